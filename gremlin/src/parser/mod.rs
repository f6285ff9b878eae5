//! gremlin-lang text parser: one traversal (`g.V().out('knows')...`) to [`Bytecode`].
//!
//! Follows TinkerPop's `Gremlin.g4` grammar (3.8) and its Java visitors for what each literal
//! becomes, so a text traversal and the bytecode a driver sends for the same Gremlin compare
//! equal. Pure: no I/O.
//!
//! # Mapping
//! - Source methods (`withStrategies`, `withoutStrategies`, `withSideEffect`, `withSack`,
//!   `withBulk`, `withPath`, `with`) go to [`Bytecode::source`], steps to [`Bytecode::steps`]; op
//!   names are the Java method names (`V`, `out`, `as`, `in`, `from`, ...). Step names are
//!   checked against the 3.8 `GraphTraversal` method list: an unknown step is a parse error.
//!   `g.with(k, v)` stays the source instruction `with(k, v)` (gremlinpython sends it as
//!   `withStrategies(OptionsStrategy{k: v})`; the machine should accept both);
//!   `g.withComputer()` becomes `withStrategies(VertexProgramStrategy)`. One traversal per
//!   text, optionally ended by `;`; `g.tx()...` is refused.
//! - Integers: suffix `b` Byte, `s` Short, `i` Int, `l`/`L` Long, `n` BigInteger; unsuffixed:
//!   Int if it fits, else Long, else BigInteger. Hex (`0x1F`) and octal (`017`) as in Java
//!   (in hex, `b` is a digit: `0x1b` is 27). Underscores between digits are allowed.
//!   Decimals: `f` Float, `d` Double, `m` BigDecimal (scale as written: `1.50m` has scale 2);
//!   unsuffixed decimals are Double. `NaN`, `Infinity`, `-Infinity` are Doubles.
//! - `[1,2]` List, `{1,2}` Set, `[:]` empty Map, `[a:1, "b":2, (T.id):3, 1:2]` Map. A bare key
//!   is always the String of its name, even a keyword (`[id: 1]` has the key `"id"`); tokens as
//!   keys are written `(T.id)`, `T.id`, `(id)`, `(Direction.OUT)`, as in the grammar's `mapKey`.
//!   `1..3` is the List `[1,2,3]`, `'a'..'c'` the List `["a","b","c"]`.
//! - `datetime("2023-08-02T00:00:00Z")` is a [`Value::DateTime`]; a missing offset means UTC,
//!   a date alone means UTC midnight; `datetime()` is now (reads the system clock).
//!   `UUID("...")` is a [`Value::Uuid`]; `UUID()` a fresh random (v4) UUID.
//! - Tokens are [`Value::Enum`] with canonical Java names: `Order.incr`/`decr` become
//!   `asc`/`desc`, `Direction.from`/`to` become `OUT`/`IN`. Short forms (`desc`, `local`,
//!   `keys`, `first`, `sum`, `any`, `onCreate`, `day`, `normSack`, ...) are accepted where
//!   gremlin-lang accepts them (a bare identifier that is not a token is a variable).
//! - `WithOptions`, `IO`, `ConnectedComponent`, `PageRank`, `PeerPressure`, `ShortestPath`
//!   constants become the Strings/Ints Java defines (`WithOptions.tokens` is
//!   `"~tinkerpop.valueMap.tokens"`, `WithOptions.all` is `15`, ...).
//! - `Cardinality.list(x)` / `list(x)` (a `CardinalityValue`) is represented as gremlinpython
//!   sends it: a [`Value::Bytecode`] with no steps and the one source instruction
//!   `CardinalityValueTraversal(Enum(Cardinality, list), x)`.
//! - Predicates (`P.gt(1)`, `gt(1)`, `TextP.containing('a')`) are [`Value::P`]; `within`/
//!   `without` take the individual elements (`within([1,2])` and `within(1,2)` are both
//!   `within(1,2)`; a variable holding a list stays one `Binding` argument); `p.and(q)` /
//!   `p.or(q)` are `and(p,q)` / `or(p,q)`; `P.not(p)` is `not(p)`; `p.negate()` flips the simple
//!   pairs (`gt`/`lte`, `eq`/`neq`, `within`/`without`, `containing`/`notContaining`, ...) and
//!   is `not(p)` otherwise.
//! - `__.out()` and bare anonymous steps (`where(out())`) are [`Value::Bytecode`] with an empty
//!   source. `withStrategies(SubgraphStrategy(vertices: __.has('x')), ReadOnlyStrategy)` gives
//!   [`Value::Strategy`] arguments (simple class name, config map with String keys);
//!   `withoutStrategies(ReadOnlyStrategy)` gives [`Value::Class`] arguments (simple names).
//! - `new Vertex(1, 'person')` / `ReferenceVertex(...)` is a reference [`Value::Vertex`].
//! - Variables become `Value::Binding((name, value))`, the value looked up in the parameters;
//!   an unknown variable is an error.
//! - Lambdas/closures (`{ it.get() }`) are refused with an error saying so.
//! - [`to_gremlin`] prints bytecode back as gremlin-lang text; parsing that text gives the
//!   same bytecode (checked over the whole feature suite).
//! - A trailing terminal method (`.next()`, `.toList()`, `.iterate()`, ...) is returned
//!   separately by [`parse_request`]; [`parse`] accepts and ignores it.
//!
//! # Limits
//! Text longer than [`TEXT_BYTES_MAX`], nesting deeper than [`NESTING_DEPTH_MAX`], numbers
//! longer than [`NUMBER_DIGITS_MAX`] digits and ranges wider than [`RANGE_ITEMS_MAX`] are
//! errors. The text is lexed lazily, so the parser's own memory grows with nesting depth, not
//! with text length. No input panics (a randomized test over mutated feature-suite traversals
//! checks this; `COREGRAPH_FUZZ_SECONDS=60` runs it for a minute).

mod grammar;
mod lexer;
mod literal;
mod print;

pub use print::{to_gremlin, Unprintable};

#[cfg(test)]
mod feature_tests;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;

use crate::bytecode::Bytecode;
use crate::value::Value;

/// Longest accepted traversal text, in bytes.
pub const TEXT_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Deepest accepted nesting of traversals, collections and predicates inside each other.
pub const NESTING_DEPTH_MAX: usize = 128;
/// Most elements a range literal (`1..5`, `'a'..'z'`) may expand to.
pub const RANGE_ITEMS_MAX: usize = 100_000;
/// Most digits in one numeric literal (parsing huge numbers is quadratic).
pub const NUMBER_DIGITS_MAX: usize = 4096;

/// A terminal method written after the traversal (console style).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Terminal {
    /// `next()` (`None`) or `next(n)`.
    Next(Option<u32>),
    TryNext,
    HasNext,
    ToList,
    ToSet,
    ToBulkSet,
    Iterate,
    Explain,
}

/// What went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// The usual syntax error: what the grammar allowed here and what the text has.
    Expected { expected: String, found: String },
    /// A variable that the parameters do not bind.
    UnknownVariable(String),
    /// Valid Groovy or Gremlin that this server refuses (lambdas).
    Unsupported(String),
    /// A literal that cannot be a value (bad date, UUID, range, number out of range).
    Invalid(String),
    /// Nesting deeper than [`NESTING_DEPTH_MAX`].
    TooDeep,
    /// Text longer than [`TEXT_BYTES_MAX`].
    TooLong { size_bytes: usize },
}

/// A parse error with its position in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset in the text.
    pub offset: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    pub kind: ParseErrorKind,
}

impl ParseError {
    /// What the grammar allowed at the error position, for syntax errors.
    pub fn expected(&self) -> Option<&str> {
        match &self.kind {
            ParseErrorKind::Expected { expected, .. } => Some(expected),
            _ => None,
        }
    }

    /// What the text has at the error position, for syntax errors.
    pub fn found(&self) -> Option<&str> {
        match &self.kind {
            ParseErrorKind::Expected { found, .. } => Some(found),
            _ => None,
        }
    }

    pub(crate) fn at(text: &str, offset: usize, kind: ParseErrorKind) -> ParseError {
        let offset = offset.min(text.len());
        let mut line = 1;
        let mut line_start = 0;
        for (i, b) in text.bytes().enumerate().take(offset) {
            if b == b'\n' {
                line += 1;
                line_start = i + 1;
            }
        }
        let column = text
            .get(line_start..offset)
            .map_or(offset - line_start, |s| s.chars().count())
            + 1;
        ParseError {
            offset,
            line,
            column,
            kind,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {}:{}: ", self.line, self.column)?;
        match &self.kind {
            ParseErrorKind::Expected { expected, found } => {
                write!(f, "expected {expected} but found {found}")
            }
            ParseErrorKind::UnknownVariable(name) => {
                write!(f, "unknown variable '{name}' (no parameter of that name)")
            }
            ParseErrorKind::Unsupported(what) => f.write_str(what),
            ParseErrorKind::Invalid(what) => f.write_str(what),
            ParseErrorKind::TooDeep => write!(
                f,
                "traversal nested deeper than the limit of {NESTING_DEPTH_MAX}"
            ),
            ParseErrorKind::TooLong { size_bytes } => write!(
                f,
                "traversal text of {size_bytes} bytes is longer than the limit of {TEXT_BYTES_MAX}"
            ),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses one traversal starting at `g`; variables are looked up with `params`. A trailing
/// terminal method is accepted and dropped (use [`parse_request`] to get it).
pub fn parse(text: &str, params: &dyn Fn(&str) -> Option<Value>) -> Result<Bytecode, ParseError> {
    parse_request(text, params).map(|(bytecode, _)| bytecode)
}

/// Parses one traversal and its optional trailing terminal method (`.next()`, `.toList()`, ...).
pub fn parse_request(
    text: &str,
    params: &dyn Fn(&str) -> Option<Value>,
) -> Result<(Bytecode, Option<Terminal>), ParseError> {
    grammar::parse_query(text, params)
}

/// [`parse`] with the parameters in a map.
pub fn parse_with_map(text: &str, params: &HashMap<String, Value>) -> Result<Bytecode, ParseError> {
    parse(text, &|name| params.get(name).cloned())
}
