//! The `sim7600` command line (clap derive) and its dispatch: parse, load the config
//! (flags override it), run the subcommand, print, and map the outcome to an exit status.
//!
//! Exit statuses: `detect` 0 SIM7600, 1 other modem, 2 no answer, 3 handoff failed;
//! `status` 0 for one of the expected states, 1 for "inconsistent", 2 for "unknown" (a
//! systemctl that failed, or holders this user may not see); `voice-bot` as
//! [`crate::bot::exit_code`] says; `restore` 0, or 1 when
//! a restore failed; `decode` 0, or 1 when the capture could not be read; `hold` 0 after
//! an orderly release; `list` 0, or 1 when sysfs cannot be read. Every command: 64 for bad usage, 78 for a bad config file.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::app::commands::{decode, detect, hold, list, restore, status, watch};
use crate::app::config::{Config, ConfigError};
use crate::platform::signals::Signals;

/// Exit status for bad usage (sysexits EX_USAGE).
pub const EXIT_USAGE: u8 = 64;
/// Exit status for a bad config file (sysexits EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;

/// What `sim7600 demo` is told (with [`EXIT_USAGE`]): the demo is a program of its own,
/// which brings the simulated modem this program does not carry.
pub const DEMO_ELSEWHERE: &str = "'demo' is not a command of sim7600: the demo is its own \
     program, sim7600-demo, which brings the simulated modem that sim7600 does not carry; \
     from a source checkout run `cargo run --release -p sim7600-demo` (README.md)";

/// The answer for a command line clap refused, when it asked for a command this program
/// does not have but a user may look for here (`demo`); `None` leaves clap's own error.
pub fn not_here(error: &clap::Error) -> Option<&'static str> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if error.kind() != ErrorKind::InvalidSubcommand {
        return None;
    }
    match error.get(ContextKind::InvalidSubcommand) {
        Some(ContextValue::String(name)) if name == "demo" => Some(DEMO_ELSEWHERE),
        _ => None,
    }
}

/// Share a SIM7600's AT port between a voice bot and smstools.
#[derive(Debug, Parser)]
#[command(name = "sim7600", version, about, propagate_version = true)]
pub struct Cli {
    /// The config file (default /etc/sim7600/config.toml; missing default = built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// More log output (-v debug, -vv trace); RUST_LOG works too.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Stop smstools, ask the modem who it is, start smstools again; print the identity and
    /// the pause. Exit 0 SIM7600, 1 other modem, 2 no answer, 3 handoff failed.
    Detect {
        /// The AT port (overrides the config).
        #[arg(long, value_name = "P")]
        port: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Is smstools active, is the voice bot active, who holds the port, any restore marker,
    /// and which of the expected states this is. Read-only. Exit 0 an expected state, 1
    /// inconsistent, 2 unknown: a fact could not be read (systemctl failed, or other
    /// processes' descriptors cannot be read without root).
    Status {
        /// The AT port (overrides the config).
        #[arg(long, value_name = "P")]
        port: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Give smstools back for every restore marker whose owner is gone (systemd's
    /// ExecStopPost); markers of live owners are left alone.
    Restore {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// smstools' configuration, whose spool the dead bot served (default: `[bot]
        /// smstools_conf`, /etc/smsd.conf).
        #[arg(long, value_name = "PATH")]
        smstools_conf: Option<PathBuf>,
    },
    /// The voice bot: take the port from smstools, answer calls, send the HTTP API's SMS,
    /// and give the port back on exit. A port that does not exist yet is waited for
    /// (`[bot] wait_for_port_s`); SIGHUP re-reads the configuration. Exit 0 after
    /// SIGTERM/SIGINT/SIGQUIT, 78 bad config, 3 handoff failed, 4 init refused, 5 modem
    /// lost for good, 6 no port within wait_for_port_s (docs/operations.md).
    VoiceBot {
        /// The AT port (overrides the config).
        #[arg(long, value_name = "PATH")]
        port: Option<PathBuf>,
        /// A voice_config.json to read `answer_after_rings` from (overrides `voice_config`).
        #[arg(long, value_name = "FILE")]
        voice_config: Option<PathBuf>,
        /// Where the HTTP API listens (overrides `[api] listen`).
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<String>,
        /// smstools' configuration, whose spool folders the bot serves while it holds the
        /// port (overrides `[bot] smstools_conf`; default /etc/smsd.conf).
        #[arg(long, value_name = "PATH")]
        smstools_conf: Option<PathBuf>,
    },
    /// Every SIMCom modem on this host: USB path, vendor:product, IMEI (when its AT port is
    /// free, from the bot that runs it, or recorded earlier), AT and audio ports by USB
    /// interface and who holds them. Opens only ports nobody holds.
    List {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// While no bot holds the port: restart smstools (through the `[handoff]` backend)
    /// whenever the smsd of `[bot] smstools_conf` holds a port that vanished (a USB
    /// re-enumeration), which smsd never recovers from by itself. Runs until
    /// SIGTERM/SIGINT, or looks once.
    WatchSmstools {
        /// Look once, print the outcome, exit 0 (1 when a restart failed).
        #[arg(long)]
        once: bool,
        /// Seconds between two looks.
        #[arg(long, value_name = "S", default_value_t = 10)]
        interval_s: u64,
        /// Print each outcome as one JSON line.
        #[arg(long)]
        json: bool,
    },
    /// Decode raw bytes captured from a SIM7600 port: one JSON object per line.
    Decode {
        /// The capture file; `-` or nothing reads stdin.
        #[arg(value_name = "FILE|-")]
        input: Option<PathBuf>,
    },
    /// Diagnostic: take the port as the voice bot does and hold it until SIGINT, SIGTERM,
    /// SIGHUP or SIGQUIT, then give it back to smstools.
    Hold {
        /// The AT port (overrides the config).
        #[arg(long, value_name = "P")]
        port: Option<PathBuf>,
        /// Panic after this many ms of holding (shows that a panic gives the port back).
        #[arg(long, value_name = "MS")]
        panic_after: Option<u64>,
    },
}

/// What can end a command before its own exit status.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The config was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// stdout could not be written.
    #[error("cannot write the output: {0}")]
    Output(std::io::Error),
    /// A report could not be turned into JSON.
    #[error("cannot encode the output as JSON: {0}")]
    Json(serde_json::Error),
}

impl CliError {
    /// The exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Config(_) => EXIT_CONFIG,
            CliError::Output(_) | CliError::Json(_) => 1,
        }
    }
}

fn print(out: &mut impl Write, text: &str) -> Result<(), CliError> {
    out.write_all(text.as_bytes()).map_err(CliError::Output)?;
    out.flush().map_err(CliError::Output)
}

fn print_json(out: &mut impl Write, value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string(value).map_err(CliError::Json)?;
    print(out, &format!("{text}\n"))
}

/// Runs the parsed command line; returns the exit status.
pub fn run(cli: Cli, shutdown: &Signals, out: &mut impl Write) -> Result<u8, CliError> {
    if let Command::Decode { input } = cli.command {
        // decode needs no config: a capture can be read on any machine.
        return match decode::run(input, &mut *out) {
            Ok(_) => Ok(0),
            Err(e) => {
                crate::platform::logging::fatal(&e);
                Ok(1)
            }
        };
    }
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Detect { port, json } => {
            let report = detect::run(&config, port.as_deref());
            if json {
                print_json(out, &report)?;
            } else {
                print(out, &detect::render(&report))?;
            }
            Ok(report.verdict.exit_code())
        }
        Command::Status { port, json } => {
            let facts = status::gather(&config, port.as_deref(), status::systemd_booted());
            let state = status::seed_state(&facts);
            if json {
                print_json(out, &serde_json::json!({ "facts": facts, "state": state }))?;
            } else {
                print(out, &status::render(&config, &facts, &state))?;
            }
            Ok(state.exit_code())
        }
        Command::WatchSmstools {
            once,
            interval_s,
            json,
        } => {
            let mut failed_output = None;
            let mut report = |o: &watch::WatchOutcome| {
                let text = if json {
                    serde_json::to_string(o).map(|t| format!("{t}\n"))
                } else {
                    Ok(format!("{o:?}\n"))
                };
                match text {
                    Ok(t) => {
                        if let Err(e) = print(out, &t) {
                            failed_output = Some(e);
                        }
                    }
                    Err(e) => failed_output = Some(CliError::Json(e)),
                }
            };
            let last = watch::run(
                &config,
                Duration::from_secs(interval_s.max(1)),
                once,
                shutdown,
                &mut report,
            );
            if let Some(e) = failed_output {
                return Err(e);
            }
            Ok(u8::from(matches!(
                last,
                watch::WatchOutcome::RestartFailed { .. }
            )))
        }
        Command::List { json } => match list::run(&config) {
            Ok(modems) => {
                if json {
                    print_json(out, &serde_json::json!({ "modems": modems }))?;
                } else {
                    print(out, &list::render(&modems))?;
                }
                Ok(0)
            }
            Err(e) => {
                log::error!("{e}");
                if json {
                    print_json(out, &serde_json::json!({ "error": e.to_string() }))?;
                }
                Ok(1)
            }
        },
        Command::Restore {
            json,
            smstools_conf,
        } => match restore::run(&config, smstools_conf.as_deref()) {
            Ok(outcomes) => {
                if json {
                    print_json(out, &serde_json::json!({ "outcomes": outcomes }))?;
                } else {
                    print(out, &restore::render(&outcomes))?;
                }
                Ok(0)
            }
            Err(e) => {
                crate::platform::logging::fatal(&format_args!("restore failed: {e}"));
                if json {
                    print_json(out, &serde_json::json!({ "error": e.to_string() }))?;
                }
                Ok(1)
            }
        },
        Command::Hold { port, panic_after } => {
            match hold::run(
                &config,
                port.as_deref(),
                shutdown,
                panic_after.map(Duration::from_millis),
                &mut *out,
            ) {
                Ok(end) => {
                    if let Some(s) = end.signal {
                        log::info!(
                            "hold ended by {s}; smstools restarted: {}",
                            end.released.smstools_restarted
                        );
                    }
                    Ok(0)
                }
                Err(e) => {
                    crate::platform::logging::fatal(&e);
                    Ok(3)
                }
            }
        }
        Command::VoiceBot {
            port,
            voice_config,
            listen,
            smstools_conf,
        } => {
            let args = crate::app::voice_bot::VoiceBotArgs {
                port,
                voice_config,
                listen,
                smstools_conf,
                config_file: cli.config.clone(),
            };
            let code = crate::app::voice_bot::run(&config, &args, shutdown);
            Ok(u8::try_from(code).unwrap_or(1))
        }
        Command::Decode { .. } => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn detect_takes_a_port_and_json() {
        let cli =
            Cli::try_parse_from(["sim7600", "detect", "--port", "/dev/ttyUSB3", "--json"]).unwrap();
        assert!(
            matches!(cli.command, Command::Detect { port: Some(ref p), json: true } if p == &PathBuf::from("/dev/ttyUSB3"))
        );
    }

    #[test]
    fn the_config_flag_is_global() {
        let cli = Cli::try_parse_from(["sim7600", "status", "--config", "/tmp/c.toml"]).unwrap();
        assert_eq!(cli.config, Some(PathBuf::from("/tmp/c.toml")));
    }

    #[test]
    fn decode_reads_stdin_by_default() {
        let cli = Cli::try_parse_from(["sim7600", "decode"]).unwrap();
        assert!(matches!(cli.command, Command::Decode { input: None }));
    }

    #[test]
    fn demo_is_no_command_here_and_is_answered_with_where_the_demo_is() {
        for argv in [
            &["sim7600", "demo"][..],
            &["sim7600", "demo", "--rings", "2", "--simulated-smstools"],
            &["sim7600", "demo", "--help"],
            &["sim7600", "--config", "/nonexistent/config.toml", "demo"],
            &["sim7600", "-v", "demo"],
        ] {
            let err = Cli::try_parse_from(argv).unwrap_err();
            assert_eq!(not_here(&err), Some(DEMO_ELSEWHERE), "{argv:?}: {err}");
        }
        assert!(DEMO_ELSEWHERE.contains("cargo run --release -p sim7600-demo"));
        assert!(
            Cli::command()
                .get_subcommands()
                .all(|s| s.get_name() != "demo")
        );
    }

    #[test]
    fn other_refused_command_lines_keep_clap_s_error() {
        for argv in [
            &["sim7600", "demon"][..],
            &["sim7600", "detect", "demo"],
            &["sim7600", "status", "--bogus"],
            &["sim7600"],
        ] {
            let err = Cli::try_parse_from(argv).unwrap_err();
            assert_eq!(not_here(&err), None, "{argv:?}: {err}");
        }
    }
}
