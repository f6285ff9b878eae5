//! Bulk loading: readers of the Gremlin load CSV format (issue 6). The pipeline that writes
//! rows into the shards builds on [`csv`].

pub mod csv;
