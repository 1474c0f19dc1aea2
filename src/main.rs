fn main() {
    std::process::exit(clusterctl::cli::main());
}
