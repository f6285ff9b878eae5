//! Storage shards: per-core partition stores on direct-IO write blocks.

pub mod device;
pub mod digest;
pub mod record;

/// On-device format version (file header, block headers).
pub const FORMAT_VERSION: u32 = 1;
