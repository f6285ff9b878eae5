//! Gremlin value semantics: equality, comparability, orderability, numeric promotion, predicates,
//! the `math()` expression language, dates and Java string forms. Pure functions over
//! [`crate::value::Value`]; the step machine calls them.
//!
//! Everything here follows TinkerPop 3.8 (Java `GremlinValueComparator`, `NumberHelper`,
//! `Compare`/`Contains`/`Text` predicates, exp4j for `math()`), and error messages are the
//! ones TinkerPop raises where the feature suite checks them.
//!
//! Map of the library (what a step calls):
//!
//! | step / need | call |
//! |---|---|
//! | `is`, `has`, `where`, `filter` with `P`/`TextP` | [`predicate::compile`] once, then [`predicate::CompiledP::test`] per value (or [`predicate::test`]); a filter keeps a value only if the [`Ternary`] [`is_true`](Ternary::is_true) |
//! | `P.eq` equality, `within` | [`compare::equals`] |
//! | `lt`/`gt`... | [`compare::compare`] ([`Comparison::Incomparable`] is a type error) |
//! | `order()`, `Order.asc`/`desc` | [`compare::order`] (desc = reversed); pure orderability: [`compare::orderability`] |
//! | `sum`, `mean`, `sack(sum)`, `math` operands | [`number::add`] ... [`number::sum`], [`number::mean`], [`operator::apply`], [`number::to_f64`] |
//! | `min`/`max` | [`operator::min_value`] / [`operator::max_value`] |
//! | `asNumber`, `asBool`, `asString`, `asDate` | [`number::as_number`], [`text::as_bool`], [`text::as_string`], [`datetime::as_date`] |
//! | `math()` | [`math::parse`], [`math::Expr::variables`], [`math::Expr::eval`] |
//! | `dateAdd`, `dateDiff` | [`datetime::date_add`], [`datetime::date_diff`] |
//! | string steps | [`text`]: `to_upper`, `trim`, `split`, `substring`, `replace`, `concat`, `format`, ...; `Scope.local` through [`text::map_local`] |
//! | Java `toString` (`asString`, errors) | [`text::to_java_string`] |

pub mod compare;
pub mod datetime;
pub mod decimal;
pub mod math;
pub mod number;
pub mod operator;
pub mod predicate;
pub mod text;

pub use compare::{Comparison, Ternary};

/// Which Java exception a [`SemanticsError`] stands for (the machine may map these onto its
/// own error kinds; the message is what the feature suite checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `java.lang.ArithmeticException` (overflow, division by zero).
    Arithmetic,
    /// `java.lang.IllegalArgumentException` (bad argument type or value).
    IllegalArgument,
    /// `java.lang.NumberFormatException` and other parse failures.
    Parse,
    /// `java.lang.IllegalStateException`.
    IllegalState,
}

/// An error raised by a semantic operation, with TinkerPop's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SemanticsError {
    pub kind: ErrorKind,
    pub message: String,
}

impl SemanticsError {
    /// An error of the given kind and message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> SemanticsError {
        SemanticsError {
            kind,
            message: message.into(),
        }
    }

    /// An `ArithmeticException`.
    pub fn arithmetic(message: impl Into<String>) -> SemanticsError {
        SemanticsError::new(ErrorKind::Arithmetic, message)
    }

    /// An `IllegalArgumentException`.
    pub fn illegal_argument(message: impl Into<String>) -> SemanticsError {
        SemanticsError::new(ErrorKind::IllegalArgument, message)
    }

    /// A parse failure.
    pub fn parse(message: impl Into<String>) -> SemanticsError {
        SemanticsError::new(ErrorKind::Parse, message)
    }
}

impl std::fmt::Display for SemanticsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SemanticsError {}

#[cfg(test)]
mod robustness_tests {
    //! The parsers here take text from the network (gremlin-lang literals, step arguments):
    //! hammer them with generated inputs and require an answer, never a panic.

    use crate::value::{Predicate, Value};

    /// A small deterministic generator (xorshift), so failures reproduce.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn string(&mut self, alphabet: &[char], len_max: u64) -> String {
            let len = self.next() % (len_max + 1);
            (0..len)
                .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize])
                .collect()
        }
    }

    const CASES: usize = 20_000;

    #[test]
    fn parsers_never_panic() {
        let numeric: Vec<char> = "0123456789+-.eEfFdDlLxX#, a".chars().collect();
        let dates: Vec<char> = "0123456789-:T.Z+tz ".chars().collect();
        let exprs: Vec<char> = "0123456789+-*/%^()_ab.,eEpisqrtcl ".chars().collect();
        let templates: Vec<char> = "%{}_ab".chars().collect();
        let regexes: Vec<char> = "\\uQEdsw()[]*+?a0{}".chars().collect();
        let mut g = Gen(0x9E37_79B9_7F4A_7C15);
        for _ in 0..CASES {
            let n = g.string(&numeric, 24);
            let _ = super::number::parse_number(&n);
            let _ = super::decimal::parse(&n);
            let d = g.string(&dates, 32);
            if let Some(dt) = super::datetime::parse(&d) {
                // Whatever parses must print and re-parse to the same instant.
                let again = super::datetime::parse(&super::datetime::format(&dt));
                assert_eq!(
                    again.map(|x| (x.epoch_seconds, x.nanos)),
                    Some((dt.epoch_seconds, dt.nanos)),
                    "{d}"
                );
            }
            let e = g.string(&exprs, 24);
            if let Ok(expr) = super::math::parse(&e) {
                let _ = expr.eval(&|_| Some(1.5));
            }
            let t = g.string(&templates, 16);
            let _ = super::text::format(&t, &|_| Some(Value::Int(1)));
            let r = g.string(&regexes, 12);
            let p = Predicate {
                text: true,
                name: "regex".into(),
                args: vec![Value::str(&r)],
            };
            let _ = super::predicate::test(&p, &Value::str("abc"));
        }
    }

    #[test]
    fn substring_never_panics_on_any_indices() {
        let mut g = Gen(42);
        for _ in 0..CASES {
            let start = (g.next() % 41) as i64 - 20;
            let end = (g.next() % 41) as i64 - 20;
            let s = Value::str("h\u{e9}llo \u{1F600} w\u{f6}rld");
            let out = super::text::substring(&s, start, Some(end));
            assert!(out.is_ok());
        }
    }
}
