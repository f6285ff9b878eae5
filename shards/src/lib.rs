//! Storage shards: per-core partition stores on direct-IO write blocks.
