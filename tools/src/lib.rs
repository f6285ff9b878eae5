//! Library side of the `coregraph` binary: subcommand implementations that `main.rs` calls
//! (and that tests can call without spawning the binary).

pub mod backup;
pub mod gen;
pub mod io;
