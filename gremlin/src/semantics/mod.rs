//! Gremlin value semantics: equality, comparability, orderability, numeric promotion, predicates,
//! the `math()` expression language, dates and Java string forms. Pure functions over
//! [`crate::value::Value`]; the step machine calls them.
//!
//! Everything here follows TinkerPop 3.8 (Java `GremlinValueComparator`, `NumberHelper`,
//! `Compare`/`Contains`/`Text` predicates, exp4j for `math()`), and error messages are the
//! ones TinkerPop raises where the feature suite checks them.

pub mod compare;
pub mod datetime;
pub mod decimal;
pub mod math;
pub mod number;
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
