//! `bots`: runs many concurrent QUIC clients against a `dominion serve` and prints a report.
//!
//! ```text
//! cargo run --release -p dominion-tools --bin bots -- --server 127.0.0.1:4433 \
//!     --fingerprint <sha256 hex> --clients 1000 --seconds 30
//! ```
//!
//! Exit status: 0 when the run had no protocol errors, 1 when it had some, 2 when it could not
//! start.

use std::process::ExitCode;

use clap::Parser;
use dominion_tools::bots::{self, BotsArgs};

fn main() -> ExitCode {
    let args = BotsArgs::parse();
    let config = match args.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bots: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("bots")
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bots: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match runtime.block_on(bots::run(config)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bots: {e:#}");
            return ExitCode::from(2);
        }
    };
    println!("{report}");
    if report.protocol_errors() > 0 {
        eprintln!("bots: {} protocol error(s)", report.protocol_errors());
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
