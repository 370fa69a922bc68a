//! The `frontdesk` binary: parse the command line and hand over to the library (which sets up
//! logging once the settings are read).

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = frontdesk::cli::Cli::parse();
    match frontdesk::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
