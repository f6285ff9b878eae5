//! Byte-level encoding helpers for graph records: LEB128 varints, length-prefixed strings and
//! GraphBinary values, and a bounds-checked reader that never panics on bad bytes.

use std::sync::Arc;

use gremlin::codec::graphbinary;
use gremlin::value::Value;

/// Longest string (label, property key, string id) in a record, in bytes.
pub const STRING_BYTES_MAX: usize = 64 * 1024;
/// Longest encoded property value in a record, in bytes.
pub const VALUE_BYTES_MAX: usize = 1024 * 1024;
/// Most items in one list of a record (properties, entries, edges).
pub const LIST_ITEMS_MAX: usize = 1 << 20;

/// Why bytes did not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset where the problem was found.
    pub offset: usize,
    /// What was wrong.
    pub what: String,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.what)
    }
}

impl std::error::Error for DecodeError {}

/// Appends an unsigned LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a varint length then the bytes.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Appends a string as varint length + UTF-8.
pub fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

/// Appends a value as varint length + fully-qualified GraphBinary.
pub fn put_value(out: &mut Vec<u8>, v: &Value) -> Result<(), crate::model::ModelError> {
    let bytes =
        graphbinary::encode_value(v).map_err(|e| crate::model::ModelError::Encode(e.detail))?;
    if bytes.len() > VALUE_BYTES_MAX {
        return Err(crate::model::ModelError::Limit {
            limit: "VALUE_BYTES_MAX",
            max: VALUE_BYTES_MAX as u64,
        });
    }
    put_bytes(out, &bytes);
    Ok(())
}

/// Decodes GraphBinary value bytes already taken by `r` (errors at `r`'s offset).
pub fn value_of(r: &Reader<'_>, b: &[u8]) -> Result<Value, DecodeError> {
    graphbinary::decode_value(b).map_err(|e| r.err(format!("bad value: {e:?}")))
}

/// A bounds-checked cursor over record bytes.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, pos: 0 }
    }

    /// An error at the current offset.
    pub fn err(&self, what: impl Into<String>) -> DecodeError {
        DecodeError {
            offset: self.pos,
            what: what.into(),
        }
    }

    /// Takes `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or_else(|| self.err(format!("truncated: {n} bytes wanted")))?;
        let s = self
            .bytes
            .get(self.pos..end)
            .ok_or_else(|| self.err("truncated"))?;
        self.pos = end;
        Ok(s)
    }

    /// Takes one byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = self.take(1)?;
        b.first().copied().ok_or_else(|| self.err("truncated"))
    }

    /// Takes `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let b = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    /// Takes an unsigned LEB128 varint (at most 10 bytes, no overflow).
    pub fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for i in 0..10u32 {
            let b = self.u8()?;
            let part = u64::from(b & 0x7F);
            if i == 9 && part > 1 {
                return Err(self.err("varint overflows u64"));
            }
            v |= part << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err("varint longer than 10 bytes"))
    }

    /// Takes a varint that must fit `u32`.
    pub fn varint_u32(&mut self) -> Result<u32, DecodeError> {
        let v = self.varint()?;
        u32::try_from(v).map_err(|_| self.err(format!("{v} does not fit u32")))
    }

    /// Takes a list length, checked against `max`.
    pub fn len(&mut self, max: usize) -> Result<usize, DecodeError> {
        let v = self.varint()?;
        match usize::try_from(v) {
            Ok(n) if n <= max => Ok(n),
            _ => Err(self.err(format!("length {v} over the limit {max}"))),
        }
    }

    /// Takes a length-prefixed byte string of at most `max` bytes.
    pub fn bytes(&mut self, max: usize) -> Result<&'a [u8], DecodeError> {
        let n = self.len(max)?;
        self.take(n)
    }

    /// Takes a length-prefixed UTF-8 string.
    pub fn str(&mut self) -> Result<Arc<str>, DecodeError> {
        let b = self.bytes(STRING_BYTES_MAX)?;
        let s = std::str::from_utf8(b).map_err(|_| self.err("string is not UTF-8"))?;
        Ok(Arc::from(s))
    }

    /// Takes a length-prefixed GraphBinary value.
    pub fn value(&mut self) -> Result<Value, DecodeError> {
        let b = self.bytes(VALUE_BYTES_MAX)?;
        value_of(self, b)
    }

    /// The offset of the next byte.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Whether every byte was read.
    pub fn is_done(&self) -> bool {
        self.pos == self.bytes.len()
    }

    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.is_done() {
            Ok(())
        } else {
            Err(self.err(format!("{} trailing bytes", self.bytes.len() - self.pos)))
        }
    }
}
