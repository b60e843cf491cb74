//! migctl: the controller and node daemon of migr. The code is the `migctl` library; this
//! binary parses the command line and hands it over.

use clap::Parser;

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
    if let Err(e) = migctl::cli::run(migctl::cli::Cli::parse()) {
        eprintln!("migctl: {e}");
        std::process::exit(e.exit_code());
    }
}
