//! `dominion-admin`: operate a running kingdom through its admin API.
//!
//! ```text
//! dominion-admin --token-file data/admin.token status
//! dominion-admin --json player 65537
//! dominion-admin ticket issue INC-42 --to all --title Sorry --attach gold=100 --reason outage
//! ```
//!
//! Exit status: 0 done, 1 the server refused, 2 unreachable or bad usage.

use std::process::ExitCode;

use clap::Parser;
use dominion_tools::admin::{self, AdminArgs, Outcome};

fn main() -> ExitCode {
    let args = AdminArgs::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dominion-admin: starting the async runtime: {e}");
            return ExitCode::from(Outcome::Failed.code());
        }
    };
    let outcome = runtime.block_on(admin::run(
        &args,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    ));
    ExitCode::from(outcome.code())
}
