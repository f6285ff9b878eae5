//! Wire codecs: GraphBinary 1.0 and GraphSON 3.0 for values, bytecode, request/response
//! envelopes, and the GraphSON adjacency-list graph files. Shared by the server and loaders.
//!
//! Decoders take untrusted bytes: they never panic, never allocate from a claimed length
//! without checking it against the bytes that remain, bound nesting by [`NESTING_DEPTH_MAX`],
//! collection sizes by [`COLLECTION_ITEMS_MAX`] and the number of values one call may build
//! by [`DECODED_VALUES_MAX`], and fail with a [`DecodeError`].
//!
//! Memory: a `Value` is 80 bytes, so a 2-byte GraphBinary null decodes to 40 times its size;
//! [`DECODED_VALUES_MAX`] caps what one decode call can build at about 80 MiB of values
//! (plus string bytes, which are copied 1:1) whatever the input size.

use std::fmt;

use crate::value::EnumKind;

pub mod fuzz;
pub mod graphbinary;
pub mod graphml;
pub mod graphson;
pub mod json;
pub mod message;
pub mod time;

/// Deepest nesting of values (lists in lists, traversals in traversals, ...) a decoder accepts.
pub const NESTING_DEPTH_MAX: usize = 128;
/// Most values (including JSON nodes) one decode call may build; see the module docs.
pub const DECODED_VALUES_MAX: usize = 1 << 20;
/// Most items a single collection (list, map, set, bytecode step list, ...) may claim.
pub const COLLECTION_ITEMS_MAX: usize = 1 << 24;

/// What went wrong while decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The input ended inside a value (or a claimed length exceeds the remaining bytes).
    Truncated,
    /// A type code or `@type` this decoder does not know.
    UnknownType,
    /// A known type this server does not accept (e.g. `LocalTime`, Custom).
    Unsupported,
    /// Malformed content: bad flag, bad UTF-8, out-of-range field, wrong nested type, ...
    Invalid,
    /// Nesting deeper than [`NESTING_DEPTH_MAX`].
    TooDeep,
    /// A collection larger than [`COLLECTION_ITEMS_MAX`], or a negative length.
    TooLarge,
    /// Bytes left after a complete message.
    TrailingBytes,
}

/// A decoding failure: which kind, where (byte offset into the input) and a readable detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    pub kind: DecodeErrorKind,
    /// Byte offset into the decoded input where the problem was found.
    pub offset: usize,
    pub detail: String,
}

impl DecodeError {
    /// A new error.
    pub fn new(kind: DecodeErrorKind, offset: usize, detail: impl Into<String>) -> DecodeError {
        DecodeError {
            kind,
            offset,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.detail, self.offset)
    }
}

impl std::error::Error for DecodeError {}

/// An encoding failure: the value has a shape the format cannot carry (e.g. a string longer
/// than 2 GiB, a `Tree` whose subtree is not a tree, a date outside Java's year range).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodeError {
    pub detail: String,
}

impl EncodeError {
    /// A new error.
    pub fn new(detail: impl Into<String>) -> EncodeError {
        EncodeError {
            detail: detail.into(),
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for EncodeError {}

/// Every enum kind with its GraphBinary type code and GraphSON type name.
pub(crate) const ENUM_KINDS: [(EnumKind, u8, &str); 13] = [
    (EnumKind::Barrier, 0x13, "g:Barrier"),
    (EnumKind::Cardinality, 0x16, "g:Cardinality"),
    (EnumKind::Column, 0x17, "g:Column"),
    (EnumKind::Direction, 0x18, "g:Direction"),
    (EnumKind::Operator, 0x19, "g:Operator"),
    (EnumKind::Order, 0x1a, "g:Order"),
    (EnumKind::Pick, 0x1b, "g:Pick"),
    (EnumKind::Pop, 0x1c, "g:Pop"),
    (EnumKind::Scope, 0x1f, "g:Scope"),
    (EnumKind::T, 0x20, "g:T"),
    (EnumKind::Merge, 0x2e, "g:Merge"),
    (EnumKind::DT, 0x2f, "g:DT"),
    (EnumKind::GType, 0x30, "g:GType"),
];

/// Maps driver aliases of enum constants onto the canonical Java names
/// (`Direction.from` is `OUT`, `Order.incr` is `asc`, ...).
pub(crate) fn canonical_enum_name(kind: EnumKind, name: &str) -> &str {
    match (kind, name) {
        (EnumKind::Direction, "from" | "from_" | "out") => "OUT",
        (EnumKind::Direction, "to" | "in" | "in_") => "IN",
        (EnumKind::Direction, "both") => "BOTH",
        (EnumKind::Order, "incr") => "asc",
        (EnumKind::Order, "decr") => "desc",
        (EnumKind::Pick, "any_") => "any",
        (EnumKind::Pick, "none_") => "none",
        (EnumKind::Operator, "and_") => "and",
        (EnumKind::Operator, "or_") => "or",
        (EnumKind::Operator, "sum_") => "sum",
        (EnumKind::Operator, "min_") => "min",
        (EnumKind::Operator, "max_") => "max",
        (EnumKind::Cardinality, "list_") => "list",
        (EnumKind::Cardinality, "set_") => "set",
        (EnumKind::T, "id_") => "id",
        _ => name,
    }
}

#[cfg(test)]
mod tests;
