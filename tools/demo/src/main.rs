//! `sim7600-demo`: the README's run command. The voice bot and smstools share one
//! simulated SIM7600 (no modem, no config file): the bot takes the port, a scripted call
//! is answered, an SMS goes out through the HTTP API, the port goes back to smstools; each
//! phase is printed with its time. Exit 0 when every phase worked, 1 when one failed, 64
//! for bad usage.
//!
//! Signals are set up before anything else (as in `sim7600`), so that every thread the
//! demo starts inherits the blocked mask and SIGINT/SIGTERM end the demo in order: the bot
//! gives the port back and everything the demo started is stopped.

use std::process::ExitCode;

use clap::Parser;
use host_linux::app::cli::EXIT_USAGE;
use host_linux::platform::{logging, signals};

mod demo;

/// A voice bot and smstools sharing one simulated SIM7600: a real smsd when smstools is
/// installed (else a stand-in, said plainly), the voice bot taking the port, a scripted
/// call, an SMS through the HTTP API, the port back to smstools; each phase with its
/// timing. Needs no modem and no config. Exit 0 when every phase worked.
#[derive(Debug, Parser)]
#[command(name = "sim7600-demo", version, about)]
struct Args {
    /// The simulated modem's answer_after_rings.
    #[arg(long, value_name = "N", default_value_t = modem_core::config::DEFAULT_ANSWER_AFTER_RINGS)]
    rings: u8,
    /// Use the stand-in smstools even when smsd is installed.
    #[arg(long)]
    simulated_smstools: bool,
    /// More log output (-v debug, -vv trace); RUST_LOG works too.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn main() -> ExitCode {
    let shutdown = match signals::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sim7600-demo: {e}");
            return ExitCode::from(1);
        }
    };
    signals::install_panic_hook();
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    logging::init(match args.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    });
    let options = demo::DemoOptions {
        answer_after_rings: args.rings,
        simulated_smstools: args.simulated_smstools,
    };
    match demo::run(options, &mut std::io::stdout().lock(), &shutdown) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            logging::fatal(&format_args!("demo: {e}"));
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Args::command().debug_assert();
    }

    #[test]
    fn the_flags_of_the_demo_are_read() {
        let args = Args::try_parse_from(["sim7600-demo", "--simulated-smstools", "--rings", "2"])
            .expect("the demo's flags parse");
        assert_eq!(args.rings, 2);
        assert!(args.simulated_smstools);
        let default = Args::try_parse_from(["sim7600-demo"]).expect("no flag is needed");
        assert_eq!(
            default.rings,
            modem_core::config::DEFAULT_ANSWER_AFTER_RINGS
        );
        assert!(!default.simulated_smstools);
    }
}
