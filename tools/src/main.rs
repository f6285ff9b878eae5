//! The `coregraph` binary: subcommands serve, load, import, export, backup, restore.

fn main() {
    println!("coregraph");
}
