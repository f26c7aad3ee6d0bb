//! `dominion`: the world server binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use dominion::assets::load_dir;
use dominion::serve::{ServeOptions, serve};

#[derive(Parser)]
#[command(
    name = "dominion",
    version,
    about = "World server for SLG strategy games"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a kingdom on the embedded defaults.
    Serve {
        /// Designer configs.
        #[arg(long, default_value = "assets")]
        assets: PathBuf,
        /// Where databases and generated certificates live.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Map seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Exit cleanly after this many ticks.
        #[arg(long)]
        ticks: Option<u64>,
        /// Prometheus metrics address (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:9100")]
        metrics_addr: SocketAddr,
    },
    /// Render the map a seed and assets folder generate to a PNG (one pixel per tile).
    PreviewMap {
        /// Designer configs.
        #[arg(long, default_value = "assets")]
        assets: PathBuf,
        /// Map seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output PNG file.
        #[arg(long, default_value = "map.png")]
        out: PathBuf,
    },
    /// Validate an assets folder: print every error (file:line: field: message), or a summary.
    CheckAssets {
        /// The folder to check.
        #[arg(default_value = "assets")]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckAssets { dir } => match load_dir(&dir) {
            Ok(assets) => {
                println!("{}: ok: {}", dir.display(), assets.summary());
                ExitCode::SUCCESS
            }
            Err(errors) => {
                for e in &errors.0 {
                    println!("{e}");
                }
                eprintln!("{}: {} error(s)", dir.display(), errors.0.len());
                ExitCode::FAILURE
            }
        },
        Command::PreviewMap { assets, seed, out } => {
            let assets = match load_dir(&assets) {
                Ok(a) => a,
                Err(errors) => {
                    eprintln!("{errors}");
                    return ExitCode::FAILURE;
                }
            };
            match dominion::preview::render_map(&assets, seed, &out) {
                Ok(objects) => {
                    println!("{}: seed {seed}, {objects} objects", out.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("dominion: writing {}: {e:#}", out.display());
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve {
            assets,
            data,
            seed,
            ticks,
            metrics_addr,
        } => {
            init_tracing();
            match serve(ServeOptions {
                assets,
                data,
                seed,
                ticks,
                metrics_addr,
            }) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("dominion: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .init();
}
