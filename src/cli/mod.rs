//! Command-line interface (clap). Thin: resolve arguments, call the pipeline, hand results to output.

pub fn main() -> i32 {
    0
}
