//! `sim7600`: the thin entry point. Signals are set up before anything else (so every
//! later thread inherits the blocked mask), then the logger, then the command line; the
//! work is in the library (`host_linux::app::cli`).

use std::process::ExitCode;

use clap::Parser;
use host_linux::app::cli::{self, Cli, EXIT_USAGE};
use host_linux::platform::{logging, signals};

fn main() -> ExitCode {
    let signals = match signals::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sim7600: {e}");
            return ExitCode::from(1);
        }
    };
    signals::install_panic_hook();
    let parsed = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            if let Some(answer) = cli::not_here(&e) {
                eprintln!("sim7600: {answer}");
                return ExitCode::from(EXIT_USAGE);
            }
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let level = match parsed.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    logging::init(level);
    match cli::run(parsed, &signals, &mut std::io::stdout().lock()) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            logging::fatal(&e);
            ExitCode::from(e.exit_code())
        }
    }
}
