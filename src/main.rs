//! The `clusterctl` binary: all of it is `cli::main`, which owns the terminal.
#![deny(clippy::print_stdout, clippy::print_stderr)]

fn main() {
    std::process::exit(clusterctl::cli::main());
}
