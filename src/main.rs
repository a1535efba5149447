//! The `sipmap` binary: parse the command line, set up logging, run.

use std::io::IsTerminal;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = sipmap::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal; log files and journals get plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    sipmap::cli::run(cli).await
}
