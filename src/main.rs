//! The `ferrokube` binary: parses the command line and hands over to `ferrokube::cli`.

use clap::Parser;

fn main() {
    let cli = ferrokube::cli::Cli::parse();
    std::process::exit(ferrokube::cli::run(cli));
}
