//! The `frontdesk` binary: parse the command line, set up logging, hand over to the library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = frontdesk::cli::Cli::parse();
    if matches!(cli.command, Some(frontdesk::cli::Command::Eval { .. })) {
        frontdesk::telemetry::init_quiet();
    } else {
        frontdesk::telemetry::init();
    }
    match frontdesk::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
