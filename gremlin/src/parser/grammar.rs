//! Recursive-descent parser over the token stream: query, source methods, steps, arguments.

use std::sync::Arc;

use std::collections::VecDeque;

use super::lexer::{Lexer, Tok, Token};
use super::literal::{
    constant, enum_kind, enum_member, is_constant_qualifier, negated_name, now, parse_datetime,
    random_uuid, short_form, P_NAMES, TEXT_P_NAMES,
};
use super::{
    ParseError, ParseErrorKind, Terminal, NESTING_DEPTH_MAX, RANGE_ITEMS_MAX, TEXT_BYTES_MAX,
};
use crate::bytecode::{Bytecode, Instruction};
use crate::value::{EnumKind, EnumValue, Map, Predicate, Set, Strategy, Uuid, Value, Vertex};

/// Traversal-source methods that configure the source (`Bytecode::source`).
const SOURCE_METHODS: &[&str] = &[
    "withBulk",
    "withPath",
    "withSack",
    "withSideEffect",
    "withStrategies",
    "withoutStrategies",
    "with",
    "withComputer",
];

/// Traversal-source methods that start a traversal.
const SPAWN_METHODS: &[&str] = &[
    "addE", "addV", "E", "V", "mergeE", "mergeV", "inject", "io", "call", "union",
];

/// Step names gremlin-lang knows (GraphTraversal methods).
const STEP_NAMES: &[&str] = &[
    "V",
    "E",
    "addE",
    "addV",
    "mergeE",
    "mergeV",
    "aggregate",
    "all",
    "and",
    "any",
    "as",
    "asBool",
    "asDate",
    "asNumber",
    "asString",
    "barrier",
    "both",
    "bothE",
    "bothV",
    "branch",
    "by",
    "call",
    "cap",
    "choose",
    "coalesce",
    "coin",
    "combine",
    "concat",
    "conjoin",
    "connectedComponent",
    "constant",
    "count",
    "cyclicPath",
    "dateAdd",
    "dateDiff",
    "dedup",
    "difference",
    "discard",
    "disjunct",
    "drop",
    "element",
    "elementMap",
    "emit",
    "fail",
    "filter",
    "flatMap",
    "fold",
    "format",
    "from",
    "group",
    "groupCount",
    "has",
    "hasId",
    "hasKey",
    "hasLabel",
    "hasNot",
    "hasValue",
    "id",
    "identity",
    "in",
    "inE",
    "inV",
    "index",
    "inject",
    "intersect",
    "is",
    "key",
    "label",
    "length",
    "limit",
    "local",
    "loops",
    "lTrim",
    "map",
    "match",
    "math",
    "max",
    "mean",
    "merge",
    "min",
    "none",
    "not",
    "option",
    "optional",
    "or",
    "order",
    "otherV",
    "out",
    "outE",
    "outV",
    "pageRank",
    "path",
    "peerPressure",
    "product",
    "profile",
    "project",
    "properties",
    "property",
    "propertyMap",
    "range",
    "read",
    "repeat",
    "replace",
    "reverse",
    "rTrim",
    "sack",
    "sample",
    "select",
    "shortestPath",
    "sideEffect",
    "simplePath",
    "skip",
    "split",
    "store",
    "subgraph",
    "substring",
    "sum",
    "tail",
    "timeLimit",
    "times",
    "to",
    "toE",
    "toLower",
    "toUpper",
    "toV",
    "tree",
    "trim",
    "unfold",
    "union",
    "until",
    "value",
    "valueMap",
    "values",
    "where",
    "with",
    "write",
];

fn terminal_name(name: &str) -> bool {
    matches!(
        name,
        "next" | "tryNext" | "hasNext" | "toList" | "toSet" | "toBulkSet" | "iterate" | "explain"
    )
}

type PResult<T> = Result<T, ParseError>;

/// Tokens the parser looks ahead (`peek_at(0..3)`); the text is lexed lazily so memory stays
/// proportional to nesting, not to the text length.
const LOOKAHEAD_TOKENS: usize = 3;

struct Parser<'a> {
    text: &'a str,
    lexer: Lexer<'a>,
    ahead: VecDeque<Token>,
    params: &'a dyn Fn(&str) -> Option<Value>,
    depth: usize,
}

/// Parses a whole query: `g` source methods, a start step, steps, an optional terminal.
pub(crate) fn parse_query(
    text: &str,
    params: &dyn Fn(&str) -> Option<Value>,
) -> PResult<(Bytecode, Option<Terminal>)> {
    if text.len() > TEXT_BYTES_MAX {
        return Err(ParseError::at(
            text,
            0,
            ParseErrorKind::TooLong {
                size_bytes: text.len(),
            },
        ));
    }
    let mut lexer = Lexer::new(text);
    let ahead = (0..LOOKAHEAD_TOKENS).map(|_| lexer.next_token()).collect();
    let mut p = Parser {
        text,
        lexer,
        ahead,
        params,
        depth: 0,
    };
    p.query()
}

/// `'name'` for an error message, cut short if long.
fn quoted(name: &str) -> String {
    const SHOWN_CHARS_MAX: usize = 32;
    let shown: String = name.chars().take(SHOWN_CHARS_MAX).collect();
    let ellipsis = if shown.len() < name.len() { "..." } else { "" };
    format!("'{shown}{ellipsis}'")
}

fn p_value(text: bool, name: &str, args: Vec<Value>) -> Value {
    Value::P(Arc::new(Predicate {
        text,
        name: Arc::from(name),
        args,
    }))
}

fn enum_value(kind: EnumKind, name: &str) -> Value {
    Value::Enum(EnumValue {
        kind,
        name: Arc::from(name),
    })
}

/// A `CardinalityValue` as gremlinpython sends it (see the module docs).
fn cardinality_value(card: &str, value: Value) -> Value {
    let mut b = Bytecode::default();
    b.source.push(Instruction::new(
        "CardinalityValueTraversal",
        vec![enum_value(EnumKind::Cardinality, card), value],
    ));
    Value::Bytecode(Arc::new(b))
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        self.peek_at(0)
    }

    /// The token `n` places ahead (`n < LOOKAHEAD_TOKENS`).
    fn peek_at(&self, n: usize) -> &Tok {
        match self.ahead.get(n) {
            Some(t) => &t.tok,
            None => &Tok::Eof,
        }
    }

    fn offset(&self) -> usize {
        self.ahead.front().map_or(self.text.len(), |t| t.start)
    }

    fn bump(&mut self) -> Tok {
        let next = self.lexer.next_token();
        self.ahead.push_back(next);
        match self.ahead.pop_front() {
            Some(t) => t.tok,
            None => Tok::Eof,
        }
    }

    fn err_at(&self, offset: usize, kind: ParseErrorKind) -> ParseError {
        ParseError::at(self.text, offset, kind)
    }

    /// "expected X but found <current token>".
    fn expected(&self, what: &str) -> ParseError {
        let found = match self.ahead.front() {
            Some(t) => t.tok.describe(self.text.get(t.start..t.end).unwrap_or("")),
            None => Tok::Eof.describe(""),
        };
        self.err_at(
            self.offset(),
            ParseErrorKind::Expected {
                expected: what.to_string(),
                found,
            },
        )
    }

    fn expect(&mut self, tok: &Tok, what: &str) -> PResult<()> {
        if self.peek() == tok {
            self.bump();
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    fn ident(&mut self, what: &str) -> PResult<Arc<str>> {
        match self.peek() {
            Tok::Ident(s) => {
                let s = s.clone();
                self.bump();
                Ok(s)
            }
            _ => Err(self.expected(what)),
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > NESTING_DEPTH_MAX {
            return Err(self.err_at(self.offset(), ParseErrorKind::TooDeep));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn at_end(&self) -> bool {
        matches!(self.peek(), Tok::Eof | Tok::Semi)
    }

    fn finish(&mut self) -> PResult<()> {
        if *self.peek() == Tok::Semi {
            self.bump();
        }
        if *self.peek() != Tok::Eof {
            return Err(self.expected("end of input"));
        }
        Ok(())
    }

    fn query(&mut self) -> PResult<(Bytecode, Option<Terminal>)> {
        match self.peek() {
            Tok::Ident(s) if &**s == "g" => {
                self.bump();
            }
            Tok::Ident(s) if &**s == "__" => {
                return Err(self.expected("a traversal starting with 'g'"));
            }
            _ => return Err(self.expected("'g'")),
        }
        let mut bc = Bytecode::default();
        loop {
            self.expect(&Tok::Dot, "'.'")?;
            let at = self.offset();
            let name = self.ident("a source method or start step")?;
            if SOURCE_METHODS.contains(&&*name) {
                let ins = self.source_method(&name)?;
                bc.source.push(ins);
                if self.at_end() {
                    return Err(self.expected("'.' and a start step (V, E, addV, inject, ...)"));
                }
                continue;
            }
            if &*name == "tx" {
                return Err(self.err_at(
                    at,
                    ParseErrorKind::Unsupported(
                        "transactions (g.tx()) are not supported in traversal text".into(),
                    ),
                ));
            }
            if SPAWN_METHODS.contains(&&*name) {
                let args = self.args()?;
                bc.steps.push(Instruction::new(&name, args));
                break;
            }
            return Err(self.err_at(
                at,
                ParseErrorKind::Expected {
                    expected: "a source method or start step (V, E, addV, inject, ...)".into(),
                    found: quoted(&name),
                },
            ));
        }
        loop {
            if self.at_end() {
                self.finish()?;
                return Ok((bc, None));
            }
            self.expect(&Tok::Dot, "'.' or end of input")?;
            let at = self.offset();
            let name = self.ident("a step name")?;
            if terminal_name(&name) {
                let terminal = self.terminal(&name)?;
                self.finish()?;
                return Ok((bc, Some(terminal)));
            }
            if !STEP_NAMES.contains(&&*name) {
                return Err(self.err_at(
                    at,
                    ParseErrorKind::Expected {
                        expected: "a step name".into(),
                        found: quoted(&name),
                    },
                ));
            }
            let args = self.args()?;
            bc.steps.push(Instruction::new(&name, args));
        }
    }

    fn terminal(&mut self, name: &str) -> PResult<Terminal> {
        self.expect(&Tok::LParen, "'('")?;
        let t = match name {
            "next" => {
                if *self.peek() == Tok::RParen {
                    Terminal::Next(None)
                } else {
                    let n = match self.peek() {
                        Tok::Num(Value::Int(n)) => u32::try_from(*n).ok(),
                        Tok::Num(Value::Long(n)) => u32::try_from(*n).ok(),
                        _ => None,
                    };
                    let Some(n) = n else {
                        return Err(self.expected("a non-negative integer or ')'"));
                    };
                    self.bump();
                    Terminal::Next(Some(n))
                }
            }
            "tryNext" => Terminal::TryNext,
            "hasNext" => Terminal::HasNext,
            "toList" => Terminal::ToList,
            "toSet" => Terminal::ToSet,
            "toBulkSet" => Terminal::ToBulkSet,
            "explain" => Terminal::Explain,
            _ => Terminal::Iterate,
        };
        self.expect(&Tok::RParen, "')'")?;
        Ok(t)
    }

    fn source_method(&mut self, name: &str) -> PResult<Instruction> {
        match name {
            "withStrategies" => {
                self.expect(&Tok::LParen, "'('")?;
                let mut args = Vec::new();
                if *self.peek() != Tok::RParen {
                    loop {
                        args.push(self.strategy()?);
                        if *self.peek() == Tok::Comma {
                            self.bump();
                        } else {
                            break;
                        }
                    }
                }
                self.expect(&Tok::RParen, "',' or ')'")?;
                Ok(Instruction::new(name, args))
            }
            "withoutStrategies" => {
                self.expect(&Tok::LParen, "'('")?;
                let mut args = Vec::new();
                if *self.peek() != Tok::RParen {
                    loop {
                        let class = self.ident("a strategy class name")?;
                        args.push(Value::Class(class));
                        if *self.peek() == Tok::Comma {
                            self.bump();
                        } else {
                            break;
                        }
                    }
                }
                self.expect(&Tok::RParen, "',' or ')'")?;
                Ok(Instruction::new(name, args))
            }
            "withComputer" => {
                // Java's withComputer() is withStrategies(VertexProgramStrategy).
                self.expect(&Tok::LParen, "'('")?;
                self.expect(&Tok::RParen, "')'")?;
                let s = Strategy {
                    class: Arc::from("VertexProgramStrategy"),
                    config: Map::new(),
                };
                Ok(Instruction::new(
                    "withStrategies",
                    vec![Value::Strategy(Arc::new(s))],
                ))
            }
            _ => {
                let args = self.args()?;
                Ok(Instruction::new(name, args))
            }
        }
    }

    /// `[new] Name` or `[new] Name(key: value, ...)`.
    fn strategy(&mut self) -> PResult<Value> {
        if matches!(self.peek(), Tok::Ident(s) if &**s == "new") {
            self.bump();
        }
        let class = self.ident("a strategy")?;
        let mut config = Map::new();
        if *self.peek() == Tok::LParen {
            self.bump();
            if *self.peek() != Tok::RParen {
                loop {
                    let key = self.ident("a strategy configuration key")?;
                    self.expect(&Tok::Colon, "':'")?;
                    let value = self.expr()?;
                    config.insert(Value::String(key), value);
                    if *self.peek() == Tok::Comma {
                        self.bump();
                    } else {
                        break;
                    }
                }
            }
            self.expect(&Tok::RParen, "',' or ')'")?;
        }
        Ok(Value::Strategy(Arc::new(Strategy { class, config })))
    }

    /// `( expr, ... )`.
    fn args(&mut self) -> PResult<Vec<Value>> {
        if *self.peek() == Tok::LBrace {
            return Err(self.err_at(
                self.offset(),
                ParseErrorKind::Unsupported(
                    "lambdas (Groovy closures '{...}') are not supported".into(),
                ),
            ));
        }
        self.expect(&Tok::LParen, "'('")?;
        let mut args = Vec::new();
        if *self.peek() == Tok::RParen {
            self.bump();
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            match self.peek() {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RParen => {
                    self.bump();
                    return Ok(args);
                }
                _ => return Err(self.expected("',' or ')'")),
            }
        }
    }

    /// One argument: literal, token, predicate, variable or anonymous traversal.
    fn expr(&mut self) -> PResult<Value> {
        self.enter()?;
        let v = self.expr_inner();
        self.leave();
        v
    }

    fn expr_inner(&mut self) -> PResult<Value> {
        let start = self.offset();
        match self.peek().clone() {
            Tok::Str(s) => {
                self.bump();
                if *self.peek() == Tok::Dot && *self.peek_at(1) == Tok::Dot {
                    return self.string_range(start, &s);
                }
                Ok(Value::String(s))
            }
            Tok::Num(v) => {
                self.bump();
                if *self.peek() == Tok::Dot && *self.peek_at(1) == Tok::Dot {
                    return self.int_range(start, &v);
                }
                Ok(v)
            }
            Tok::LBrack => self.collection(),
            Tok::LBrace => self.set(),
            Tok::Ident(name) => {
                self.bump();
                self.ident_expr(start, &name)
            }
            _ => Err(self.expected("a value")),
        }
    }

    fn int_range(&mut self, start: usize, from: &Value) -> PResult<Value> {
        self.bump();
        self.bump();
        let to = self.bump();
        let as_i64 = |v: &Value| match v {
            Value::Int(i) => Some(i64::from(*i)),
            _ => None,
        };
        let (Some(a), Tok::Num(to)) = (as_i64(from), to) else {
            return Err(self.err_at(
                start,
                ParseErrorKind::Invalid("a range needs two integer or two string ends".into()),
            ));
        };
        let Some(b) = as_i64(&to) else {
            return Err(self.err_at(
                start,
                ParseErrorKind::Invalid("a range needs two integer or two string ends".into()),
            ));
        };
        if a.abs_diff(b) >= RANGE_ITEMS_MAX as u64 {
            return Err(self.err_at(
                start,
                ParseErrorKind::Invalid(format!(
                    "range {a}..{b} is wider than the limit of {RANGE_ITEMS_MAX} items"
                )),
            ));
        }
        let items: Vec<Value> = if a <= b {
            (a..=b)
                .filter_map(|i| i32::try_from(i).ok().map(Value::Int))
                .collect()
        } else {
            (b..=a)
                .rev()
                .filter_map(|i| i32::try_from(i).ok().map(Value::Int))
                .collect()
        };
        Ok(Value::List(items))
    }

    fn string_range(&mut self, start: usize, from: &str) -> PResult<Value> {
        self.bump();
        self.bump();
        let invalid = |p: &Self, why: &str| p.err_at(start, ParseErrorKind::Invalid(why.into()));
        let Tok::Str(to) = self.bump() else {
            return Err(invalid(
                self,
                "a range needs two integer or two string ends",
            ));
        };
        let a: Vec<char> = from.chars().collect();
        let b: Vec<char> = to.chars().collect();
        if a.len() != b.len() {
            return Err(invalid(self, "the ends of a string range differ in length"));
        }
        let (Some((la, pa)), Some((lb, pb))) = (a.split_last(), b.split_last()) else {
            return Ok(Value::List(Vec::new()));
        };
        if pa != pb {
            return Err(invalid(
                self,
                "the ends of a string range differ before the last character",
            ));
        }
        let prefix: String = pa.iter().collect();
        let (lo, hi) = (u32::from(*la), u32::from(*lb));
        if lo.abs_diff(hi) as usize >= RANGE_ITEMS_MAX {
            return Err(invalid(self, "a string range wider than the item limit"));
        }
        let codes: Vec<u32> = if lo <= hi {
            (lo..=hi).collect()
        } else {
            (hi..=lo).rev().collect()
        };
        Ok(Value::List(
            codes
                .into_iter()
                .filter_map(char::from_u32)
                .map(|c| Value::str(&format!("{prefix}{c}")))
                .collect(),
        ))
    }

    /// An expression starting with an identifier (already consumed).
    fn ident_expr(&mut self, start: usize, name: &str) -> PResult<Value> {
        match name {
            "true" => return Ok(Value::Bool(true)),
            "false" => return Ok(Value::Bool(false)),
            "null" => return Ok(Value::Null),
            "NaN" => return Ok(Value::Double(f64::NAN)),
            "Infinity" => return Ok(Value::Double(f64::INFINITY)),
            "__" => {
                self.expect(&Tok::Dot, "'.'")?;
                let at = self.offset();
                let step = self.ident("a step name")?;
                return self.anonymous(at, &step);
            }
            "g" if *self.peek() == Tok::Dot => {
                return Err(self.err_at(
                    start,
                    ParseErrorKind::Expected {
                        expected: "an anonymous traversal ('__.') as argument".into(),
                        found: "'g'".into(),
                    },
                ));
            }
            "new" => {
                let at = self.offset();
                let class = self.ident("'Vertex'")?;
                if matches!(&*class, "Vertex" | "ReferenceVertex") {
                    return self.vertex();
                }
                return Err(self.err_at(
                    at,
                    ParseErrorKind::Expected {
                        expected: "'Vertex'".into(),
                        found: quoted(&class),
                    },
                ));
            }
            _ => {}
        }
        if *self.peek() == Tok::Dot && matches!(self.peek_at(1), Tok::Ident(_)) {
            if let Some(v) = self.qualified(start, name)? {
                return Ok(v);
            }
            if (self.params)(name).is_none() {
                return Err(self.err_at(
                    start,
                    ParseErrorKind::Expected {
                        expected: "a value, or a token class such as P, TextP, T, Order, \
                                   Direction, Scope, Column, Pop, Cardinality, Operator, Pick, \
                                   Merge, DT, GType, WithOptions"
                            .into(),
                        found: format!("{}.", quoted(name)),
                    },
                ));
            }
        }
        if *self.peek() == Tok::LParen {
            if name == "not" {
                return self.not_call(start);
            }
            if P_NAMES.contains(&name) {
                let p = self.predicate_call(false, name)?;
                return self.predicate_chain(p);
            }
            if TEXT_P_NAMES.contains(&name) {
                let p = self.predicate_call(true, name)?;
                return self.predicate_chain(p);
            }
            match name {
                "datetime" | "DateTime" => return self.datetime(start),
                "UUID" => return self.uuid(start),
                "single" | "set" | "list" => return self.cardinality_call(name),
                "Vertex" | "ReferenceVertex" => return self.vertex(),
                _ => return self.anonymous(start, name),
            }
        }
        if let Some((kind, canonical)) = short_form(name) {
            return Ok(enum_value(kind, canonical));
        }
        self.variable(start, name)
    }

    fn variable(&mut self, start: usize, name: &str) -> PResult<Value> {
        match (self.params)(name) {
            Some(v) => Ok(Value::Binding(Arc::new((Arc::from(name), v)))),
            None => Err(self.err_at(start, ParseErrorKind::UnknownVariable(name.to_string()))),
        }
    }

    /// `Q.member...` where `Q` is a known qualifier; `None` if `name` is not one (the caller
    /// then treats it as a variable, which errors if unbound).
    fn qualified(&mut self, start: usize, q: &str) -> PResult<Option<Value>> {
        let known =
            matches!(q, "P" | "TextP") || enum_kind(q).is_some() || is_constant_qualifier(q);
        if !known {
            return Ok(None);
        }
        self.bump();
        let at = self.offset();
        let member = self.ident("a member name")?;
        let bad_member = |p: &Self| {
            p.err_at(
                at,
                ParseErrorKind::Expected {
                    expected: format!("a member of {q}"),
                    found: quoted(&member),
                },
            )
        };
        match q {
            "P" => {
                if *self.peek() != Tok::LParen || !P_NAMES.contains(&&*member) {
                    return Err(bad_member(self));
                }
                if &*member == "not" {
                    let inner = self.args()?;
                    let p = self.not_predicate(start, inner)?;
                    return self.predicate_chain(p).map(Some);
                }
                let p = self.predicate_call(false, &member)?;
                return self.predicate_chain(p).map(Some);
            }
            "TextP" => {
                if *self.peek() != Tok::LParen || !TEXT_P_NAMES.contains(&&*member) {
                    return Err(bad_member(self));
                }
                let p = self.predicate_call(true, &member)?;
                return self.predicate_chain(p).map(Some);
            }
            _ => {}
        }
        if let Some(kind) = enum_kind(q) {
            let Some(canonical) = enum_member(kind, &member) else {
                return Err(bad_member(self));
            };
            if kind == EnumKind::Cardinality && *self.peek() == Tok::LParen {
                return self.cardinality_call(canonical).map(Some);
            }
            return Ok(Some(enum_value(kind, canonical)));
        }
        match constant(q, &member) {
            Some(v) => Ok(Some(v)),
            None => Err(bad_member(self)),
        }
    }

    /// `name(args)` of a predicate; `within`/`without` flatten a literal list argument.
    fn predicate_call(&mut self, text: bool, name: &str) -> PResult<Value> {
        let at = self.offset();
        self.enter()?;
        let args = self.args();
        self.leave();
        let mut args = args?;
        let arity = match name {
            "within" | "without" => None,
            "inside" | "outside" | "between" => Some(2),
            _ => Some(1),
        };
        if let Some(n) = arity.filter(|n| *n != args.len()) {
            return Err(self.err_at(
                at,
                ParseErrorKind::Expected {
                    expected: format!("{n} argument(s) to {name}(...)"),
                    found: format!("{}", args.len()),
                },
            ));
        }
        if matches!(name, "within" | "without") && args.len() == 1 {
            if let Some(Value::List(items)) = args.first() {
                args = items.clone();
            }
        }
        Ok(p_value(text, name, args))
    }

    /// `not(...)`: the predicate `not(p)` if its one argument is a predicate, else the step.
    fn not_call(&mut self, start: usize) -> PResult<Value> {
        let args = self.args()?;
        if matches!(args.as_slice(), [Value::P(_)]) {
            let p = self.not_predicate(start, args)?;
            return self.predicate_chain(p);
        }
        let mut steps = vec![Instruction::new("not", args)];
        self.step_chain(&mut steps)?;
        Ok(Value::Bytecode(Arc::new(Bytecode {
            source: Vec::new(),
            steps,
        })))
    }

    fn not_predicate(&mut self, start: usize, args: Vec<Value>) -> PResult<Value> {
        if !matches!(args.as_slice(), [Value::P(_)]) {
            return Err(self.err_at(
                start,
                ParseErrorKind::Expected {
                    expected: "a predicate inside P.not(...)".into(),
                    found: format!("{} argument(s)", args.len()),
                },
            ));
        }
        Ok(p_value(false, "not", args))
    }

    /// `.and(p)`, `.or(p)`, `.negate()` after a predicate.
    /// Each link nests the predicate one level deeper (`and(and(p, q), r)`), so links count
    /// against [`NESTING_DEPTH_MAX`] like parentheses do.
    fn predicate_chain(&mut self, mut p: Value) -> PResult<Value> {
        let mut links = 0usize;
        loop {
            if *self.peek() != Tok::Dot {
                return Ok(p);
            }
            let op = match self.peek_at(1) {
                Tok::Ident(s) if matches!(&**s, "and" | "or" | "negate") => s.clone(),
                _ => return Ok(p),
            };
            links += 1;
            if self.depth + links > NESTING_DEPTH_MAX {
                return Err(self.err_at(self.offset(), ParseErrorKind::TooDeep));
            }
            self.bump();
            self.bump();
            let at = self.offset();
            self.enter()?;
            let args = self.args();
            self.leave();
            let args = args?;
            if &*op == "negate" {
                if !args.is_empty() {
                    return Err(self.err_at(
                        at,
                        ParseErrorKind::Expected {
                            expected: "no arguments to negate()".into(),
                            found: format!("{} argument(s)", args.len()),
                        },
                    ));
                }
                p = negate(p);
                continue;
            }
            let other = match <[Value; 1]>::try_from(args) {
                Ok([other @ Value::P(_)]) => other,
                _ => {
                    return Err(self.err_at(
                        at,
                        ParseErrorKind::Expected {
                            expected: format!("one predicate inside {op}(...)"),
                            found: "something else".into(),
                        },
                    ))
                }
            };
            p = p_value(false, &op, vec![p, other]);
        }
    }

    fn cardinality_call(&mut self, card: &str) -> PResult<Value> {
        let at = self.offset();
        self.enter()?;
        let args = self.args();
        self.leave();
        let mut args = args?;
        if args.len() != 1 {
            return Err(self.err_at(
                at,
                ParseErrorKind::Expected {
                    expected: format!("one value inside {card}(...)"),
                    found: format!("{} argument(s)", args.len()),
                },
            ));
        }
        let value = args.pop().unwrap_or_default();
        Ok(cardinality_value(card, value))
    }

    fn datetime(&mut self, start: usize) -> PResult<Value> {
        let args = self.args()?;
        let text = match args.as_slice() {
            [] => return Ok(Value::DateTime(now())),
            [Value::String(s)] => s.clone(),
            [Value::Binding(b)] => match &b.1 {
                Value::String(s) => s.clone(),
                Value::DateTime(d) => return Ok(Value::DateTime(*d)),
                _ => Arc::from(""),
            },
            _ => {
                return Err(self.err_at(
                    start,
                    ParseErrorKind::Expected {
                        expected: "datetime() or datetime(\"<ISO-8601>\")".into(),
                        found: format!("{} argument(s)", args.len()),
                    },
                ))
            }
        };
        parse_datetime(&text).map(Value::DateTime).ok_or_else(|| {
            self.err_at(
                start,
                ParseErrorKind::Invalid(format!(
                    "datetime(\"{text}\") is not an ISO-8601 date or date-time"
                )),
            )
        })
    }

    fn uuid(&mut self, start: usize) -> PResult<Value> {
        let args = self.args()?;
        let text = match args.as_slice() {
            [] => return Ok(Value::Uuid(random_uuid())),
            [Value::String(s)] => s.clone(),
            [Value::Binding(b)] => match &b.1 {
                Value::String(s) => s.clone(),
                Value::Uuid(u) => return Ok(Value::Uuid(*u)),
                _ => Arc::from(""),
            },
            _ => {
                return Err(self.err_at(
                    start,
                    ParseErrorKind::Expected {
                        expected: "UUID() or UUID(\"<uuid>\")".into(),
                        found: format!("{} argument(s)", args.len()),
                    },
                ))
            }
        };
        Uuid::parse(&text).map(Value::Uuid).ok_or_else(|| {
            self.err_at(
                start,
                ParseErrorKind::Invalid(format!("UUID(\"{text}\") is not a valid UUID")),
            )
        })
    }

    /// `Vertex(id, label)` after the class name.
    fn vertex(&mut self) -> PResult<Value> {
        let at = self.offset();
        let args = self.args()?;
        let [id, label] = <[Value; 2]>::try_from(args).map_err(|a| {
            self.err_at(
                at,
                ParseErrorKind::Expected {
                    expected: "Vertex(id, label)".into(),
                    found: format!("{} argument(s)", a.len()),
                },
            )
        })?;
        let label = match &label {
            Value::String(s) => s.clone(),
            Value::Binding(b) => match &b.1 {
                Value::String(s) => s.clone(),
                _ => Arc::from(""),
            },
            _ => {
                return Err(self.err_at(
                    at,
                    ParseErrorKind::Expected {
                        expected: "a string vertex label".into(),
                        found: label.type_name().into(),
                    },
                ))
            }
        };
        Ok(Value::Vertex(Arc::new(Vertex {
            id,
            label,
            properties: None,
        })))
    }

    /// An anonymous traversal whose first step name is consumed; `start` is its offset.
    fn anonymous(&mut self, start: usize, step: &str) -> PResult<Value> {
        if !STEP_NAMES.contains(&step) {
            return Err(self.err_at(
                start,
                ParseErrorKind::Expected {
                    expected: "a step name".into(),
                    found: quoted(step),
                },
            ));
        }
        self.enter()?;
        let r = self.anonymous_inner(step);
        self.leave();
        r
    }

    fn anonymous_inner(&mut self, step: &str) -> PResult<Value> {
        let args = self.args()?;
        let mut steps = vec![Instruction::new(step, args)];
        self.step_chain(&mut steps)?;
        Ok(Value::Bytecode(Arc::new(Bytecode {
            source: Vec::new(),
            steps,
        })))
    }

    /// Further `.step(...)` calls of an anonymous traversal.
    fn step_chain(&mut self, steps: &mut Vec<Instruction>) -> PResult<()> {
        while *self.peek() == Tok::Dot {
            let Tok::Ident(name) = self.peek_at(1).clone() else {
                break;
            };
            if *self.peek_at(2) != Tok::LParen {
                break;
            }
            self.bump();
            let at = self.offset();
            self.bump();
            if !STEP_NAMES.contains(&&*name) {
                return Err(self.err_at(
                    at,
                    ParseErrorKind::Expected {
                        expected: "a step name".into(),
                        found: quoted(&name),
                    },
                ));
            }
            let args = self.args()?;
            steps.push(Instruction::new(&name, args));
        }
        Ok(())
    }

    /// `[...]`: list, map or empty map `[:]`.
    fn collection(&mut self) -> PResult<Value> {
        self.bump();
        match (self.peek(), self.peek_at(1)) {
            (Tok::RBrack, _) => {
                self.bump();
                return Ok(Value::List(Vec::new()));
            }
            (Tok::Colon, Tok::RBrack) => {
                self.bump();
                self.bump();
                return Ok(Value::Map(Map::new()));
            }
            _ => {}
        }
        let (first, is_key) = self.element_or_key()?;
        if is_key || *self.peek() == Tok::Colon {
            let mut map = Map::new();
            let mut key = first;
            loop {
                self.expect(&Tok::Colon, "':'")?;
                let value = self.expr()?;
                map.insert(key, value);
                match self.peek() {
                    Tok::Comma => {
                        self.bump();
                    }
                    Tok::RBrack => {
                        self.bump();
                        return Ok(Value::Map(map));
                    }
                    _ => return Err(self.expected("',' or ']'")),
                }
                key = self.element_or_key()?.0;
            }
        }
        let mut items = vec![first];
        loop {
            match self.peek() {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RBrack => {
                    self.bump();
                    return Ok(Value::List(items));
                }
                _ => return Err(self.expected("',' or ']'")),
            }
            items.push(self.expr()?);
        }
    }

    /// A list element or a map key. Returns `true` when it can only be a key: a bare identifier
    /// (always the String of its name, keywords such as `id` or `OUT` included, as in the
    /// grammar's `keyword | nakedKey`) or a parenthesised expression, followed by `:`.
    fn element_or_key(&mut self) -> PResult<(Value, bool)> {
        if let (Tok::Ident(name), Tok::Colon) = (self.peek().clone(), self.peek_at(1)) {
            self.bump();
            return Ok((Value::String(name), true));
        }
        if *self.peek() == Tok::LParen {
            self.bump();
            let key = self.expr()?;
            self.expect(&Tok::RParen, "')'")?;
            if *self.peek() != Tok::Colon {
                return Err(self.expected("':' after a parenthesised map key"));
            }
            return Ok((key, true));
        }
        Ok((self.expr()?, false))
    }

    /// `{a, b}` set literal; anything else in braces is taken for a lambda and refused.
    fn set(&mut self) -> PResult<Value> {
        let open = self.offset();
        match self.set_inner() {
            Ok(v) => Ok(v),
            Err(e) if e.kind == ParseErrorKind::TooDeep => Err(e),
            Err(e) => Err(self.err_at(
                open,
                ParseErrorKind::Unsupported(format!(
                    "lambdas (closures in '{{...}}') are not supported; \
                         '{{' here is not a set literal ({e})"
                )),
            )),
        }
    }

    fn set_inner(&mut self) -> PResult<Value> {
        self.bump();
        let mut set = Set::new();
        if *self.peek() == Tok::RBrace {
            self.bump();
            return Ok(Value::Set(set));
        }
        loop {
            set.insert(self.expr()?);
            match self.peek() {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RBrace => {
                    self.bump();
                    return Ok(Value::Set(set));
                }
                _ => return Err(self.expected("',' or '}'")),
            }
        }
    }
}

/// `p.negate()`: the opposite simple predicate, or `not(p)`.
fn negate(p: Value) -> Value {
    if let Value::P(pred) = &p {
        if let Some(n) = negated_name(&pred.name) {
            return p_value(pred.text, n, pred.args.clone());
        }
        if &*pred.name == "not" {
            if let [inner @ Value::P(_)] = pred.args.as_slice() {
                return inner.clone();
            }
        }
    }
    p_value(false, "not", vec![p])
}
