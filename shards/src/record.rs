//! On-device record format: encode, decode and CRC32C check (see docs/storage-format.md).

use crate::digest::{Digest, DIGEST_SIZE_BYTES};

/// Record magic, "CGR1" read as a little-endian u32.
pub const RECORD_MAGIC: u32 = u32::from_le_bytes(*b"CGR1");
/// Size of the fixed record header in bytes (before the payload).
pub const RECORD_HEADER_SIZE_BYTES: usize = 52;
/// Size of the trailing CRC32C in bytes.
pub const RECORD_CRC_SIZE_BYTES: usize = 4;
/// Records start at multiples of this within a block.
pub const RECORD_ALIGN_BYTES: usize = 16;
/// Hard upper bound for `record_size_max` (the index stores sizes in 16-byte units in a u16).
pub const RECORD_SIZE_LIMIT_BYTES: usize = 65535 * RECORD_ALIGN_BYTES;

/// Flag bit: the record is a tombstone (a delete), its payload is empty.
pub const FLAG_TOMBSTONE: u8 = 1;

/// Decoded record header fields.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RecordMeta {
    /// Key digest.
    pub digest: Digest,
    /// 16-bit generation: starts at 1, wraps, skips 0.
    pub generation: u16,
    /// Flags (`FLAG_TOMBSTONE`).
    pub flags: u8,
    /// Last-update stamp: ms since the Unix epoch in bits 63..16, a counter within that ms in
    /// bits 15..0. Strictly increasing within a shard (never goes backwards).
    pub lut_stamp: u64,
    /// Void-time: seconds since the Unix epoch after which the record is expired; 0 = never.
    pub void_time_s: u32,
    /// Write sequence number of the block the record was written into.
    pub block_seq: u64,
}

impl RecordMeta {
    /// Whether this record is a tombstone.
    pub fn is_tombstone(&self) -> bool {
        self.flags & FLAG_TOMBSTONE != 0
    }
}

/// Why bytes at some offset are not a valid record.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DecodeError {
    /// All-zero magic: unwritten space.
    Empty,
    /// Magic does not match.
    BadMagic,
    /// Length field smaller than a header or larger than the space or `record_size_max`.
    BadLength,
    /// CRC32C mismatch.
    BadCrc,
}

/// Exact encoded size of a record with a payload of `payload_len` bytes.
pub const fn encoded_len(payload_len: usize) -> usize {
    RECORD_HEADER_SIZE_BYTES + payload_len + RECORD_CRC_SIZE_BYTES
}

/// Space a record takes in a block: its encoded size rounded up to `RECORD_ALIGN_BYTES`.
pub const fn stored_len(payload_len: usize) -> usize {
    let n = encoded_len(payload_len);
    n.div_ceil(RECORD_ALIGN_BYTES) * RECORD_ALIGN_BYTES
}

/// Appends the encoded record to `out` (not padded).
pub fn encode(meta: &RecordMeta, payload: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + encoded_len(payload.len()), 0);
    let n = encode_into(meta, payload, &mut out[start..]);
    debug_assert_eq!(n, Some(out.len() - start));
}

/// Encodes the record at the start of `out` (not padded), in place: the write path encodes
/// straight into the block buffer. Returns the encoded length, or `None` (nothing written)
/// when `out` is shorter than that.
pub fn encode_into(meta: &RecordMeta, payload: &[u8], out: &mut [u8]) -> Option<usize> {
    let len = encoded_len(payload.len());
    let out = out.get_mut(..len)?;
    let (head, rest) = out.split_at_mut(RECORD_HEADER_SIZE_BYTES);
    head[0..4].copy_from_slice(&RECORD_MAGIC.to_le_bytes());
    head[4..8].copy_from_slice(&(len as u32).to_le_bytes());
    head[8..28].copy_from_slice(&meta.digest.0);
    head[28..30].copy_from_slice(&meta.generation.to_le_bytes());
    head[30] = meta.flags;
    head[31] = 0;
    head[32..40].copy_from_slice(&meta.lut_stamp.to_le_bytes());
    head[40..44].copy_from_slice(&meta.void_time_s.to_le_bytes());
    head[44..52].copy_from_slice(&meta.block_seq.to_le_bytes());
    let (body, crc_out) = rest.split_at_mut(payload.len());
    body.copy_from_slice(payload);
    let crc = crc32c::crc32c_append(crc32c::crc32c(head), body);
    crc_out.copy_from_slice(&crc.to_le_bytes());
    Some(len)
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

/// Decodes the record at the start of `buf`. Returns the header, the payload range within
/// `buf` and the encoded length. Never panics on arbitrary bytes.
pub fn decode(
    buf: &[u8],
    record_size_max: usize,
) -> Result<(RecordMeta, std::ops::Range<usize>, usize), DecodeError> {
    if buf.len() < RECORD_HEADER_SIZE_BYTES + RECORD_CRC_SIZE_BYTES {
        return Err(if buf.iter().all(|&b| b == 0) {
            DecodeError::Empty
        } else {
            DecodeError::BadLength
        });
    }
    let magic = le_u32(buf, 0);
    if magic != RECORD_MAGIC {
        return Err(if magic == 0 {
            DecodeError::Empty
        } else {
            DecodeError::BadMagic
        });
    }
    let len = le_u32(buf, 4) as usize;
    if len < encoded_len(0) || len > buf.len() || len > record_size_max {
        return Err(DecodeError::BadLength);
    }
    let body = buf
        .get(..len - RECORD_CRC_SIZE_BYTES)
        .ok_or(DecodeError::BadLength)?;
    if crc32c::crc32c(body) != le_u32(buf, len - RECORD_CRC_SIZE_BYTES) {
        return Err(DecodeError::BadCrc);
    }
    let mut digest = [0u8; DIGEST_SIZE_BYTES];
    digest.copy_from_slice(body.get(8..28).ok_or(DecodeError::BadLength)?);
    let meta = RecordMeta {
        digest: Digest(digest),
        generation: u16::from_le_bytes([
            body.get(28).copied().unwrap_or(0),
            body.get(29).copied().unwrap_or(0),
        ]),
        flags: body.get(30).copied().unwrap_or(0),
        lut_stamp: le_u64(body, 32),
        void_time_s: le_u32(body, 40),
        block_seq: le_u64(body, 44),
    };
    Ok((
        meta,
        RECORD_HEADER_SIZE_BYTES..len - RECORD_CRC_SIZE_BYTES,
        len,
    ))
}

/// Next generation after `g`: increments, wraps at 65535, skips 0.
pub fn next_generation(g: u16) -> u16 {
    match g.wrapping_add(1) {
        0 => 1,
        n => n,
    }
}

/// Block header magic, "CGBK".
pub const BLOCK_MAGIC: u32 = u32::from_le_bytes(*b"CGBK");
/// Size of the block header; records start right after it.
pub const BLOCK_HEADER_SIZE_BYTES: usize = 64;

/// Encodes a block header: magic, format version, shard id, write sequence number, CRC32C.
pub fn encode_block_header(shard_id: u32, seq: u64) -> [u8; BLOCK_HEADER_SIZE_BYTES] {
    let mut h = [0u8; BLOCK_HEADER_SIZE_BYTES];
    h[0..4].copy_from_slice(&BLOCK_MAGIC.to_le_bytes());
    h[4..8].copy_from_slice(&crate::FORMAT_VERSION.to_le_bytes());
    h[8..12].copy_from_slice(&shard_id.to_le_bytes());
    h[16..24].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32c::crc32c(&h[0..60]);
    h[60..64].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Decodes a block header; `None` when the block is free (zeroed), torn or foreign.
pub fn decode_block_header(h: &[u8], shard_id: u32) -> Option<u64> {
    let body = h.get(0..60)?;
    if le_u32(h, 0) != BLOCK_MAGIC || crc32c::crc32c(body) != le_u32(h, 60) {
        return None;
    }
    if le_u32(h, 4) != crate::FORMAT_VERSION || le_u32(h, 8) != shard_id {
        return None;
    }
    Some(le_u64(h, 16))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> RecordMeta {
        RecordMeta {
            digest: Digest::of_int(b"s", 7),
            generation: 3,
            flags: 0,
            lut_stamp: 1_700_000_000_123,
            void_time_s: 42,
            block_seq: 99,
        }
    }

    #[test]
    fn roundtrip_and_layout() {
        let mut out = Vec::new();
        encode(&meta(), b"hello", &mut out);
        assert_eq!(out.len(), encoded_len(5));
        assert_eq!(&out[0..4], b"CGR1");
        assert_eq!(
            u32::from_le_bytes([out[4], out[5], out[6], out[7]]) as usize,
            out.len()
        );
        assert_eq!(&out[8..28], &meta().digest.0);
        assert_eq!(&out[52..57], b"hello");
        let (m, p, len) = decode(&out, 1 << 20).unwrap();
        assert_eq!(m, meta());
        assert_eq!(&out[p], b"hello");
        assert_eq!(len, out.len());
        assert_eq!(stored_len(5) % RECORD_ALIGN_BYTES, 0);
        assert!(stored_len(5) >= out.len());
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let mut out = Vec::new();
        encode(&meta(), b"payload bytes", &mut out);
        for bit in 0..out.len() * 8 {
            let mut c = out.clone();
            c[bit / 8] ^= 1 << (bit % 8);
            assert!(decode(&c, 1 << 20).is_err(), "flip of bit {bit} undetected");
        }
    }

    #[test]
    fn truncated_and_garbage_never_panic() {
        let mut out = Vec::new();
        encode(&meta(), &[7u8; 100], &mut out);
        for n in 0..out.len() {
            assert!(decode(&out[..n], 1 << 20).is_err());
        }
        assert_eq!(decode(&[0u8; 64], 1 << 20), Err(DecodeError::Empty));
        assert_eq!(decode(&[0xffu8; 64], 1 << 20), Err(DecodeError::BadMagic));
        // record_size_max enforced on decode
        assert_eq!(decode(&out, 64).map(|_| ()), Err(DecodeError::BadLength));
    }

    #[test]
    fn generation_wraps_and_skips_zero() {
        assert_eq!(next_generation(1), 2);
        assert_eq!(next_generation(65535), 1);
        assert_eq!(next_generation(0), 1);
    }

    #[test]
    fn block_header_roundtrip() {
        let h = encode_block_header(3, 77);
        assert_eq!(decode_block_header(&h, 3), Some(77));
        assert_eq!(decode_block_header(&h, 4), None);
        assert_eq!(decode_block_header(&[0u8; 64], 3), None);
        let mut t = h;
        t[17] ^= 1;
        assert_eq!(decode_block_header(&t, 3), None);
    }
}
