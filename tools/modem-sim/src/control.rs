//! The control protocol: the commands a test or a person sends to steer the simulated
//! modem, one per line, and their parsing. The reply to every line is one line: `ok`,
//! `ok <JSON>` (for `state`), or `error <reason>`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The longest control line accepted, in bytes.
pub const MAX_CONTROL_LINE: usize = 4096;
/// The most bytes one `garbage` command may send.
pub const MAX_GARBAGE: usize = 65_536;
/// The lowest tone `tone` generates, in Hz.
pub const MIN_TONE_HZ: u32 = 20;
/// The highest tone `tone` generates, in Hz (below half of the 16 kHz rate; at 8 kHz
/// anything above 4000 Hz folds back).
pub const MAX_TONE_HZ: u32 = 7900;

/// The help text of the control protocol (also printed by `sim7600-sim --help`).
pub const PROTOCOL_HELP: &str = "\
CONTROL PROTOCOL (--control SOCKET: a unix stream socket, one command per line, one reply
line per command: `ok`, `ok <JSON>` for state, or `error <reason>`):
  call <number> [withheld] [<rings-interval-ms>]
                      an incoming call: RING (+CLIP once AT+CLIP=1) now and every interval;
                      ATS0=n answers it on the n-th RING
  hangup              the caller hangs up: VOICE CALL: END: HHMMSS + NO CARRIER when
                      answered, MISSED_CALL: <time> <number> when still ringing
  dtmf <keys>         the caller presses keys (0-9 A-D * #): one +RXDTMF: <key> each
  missed <number>     a call that rings once and is given up: RING, MISSED_CALL
  sms <number> <text> an SMS arrives: stored on the SIM (split into concatenated parts when
                      long), announced with +CMTI: \"SM\",<index> when AT+CNMI asks;
                      in <text>, \\n is a line break and \\\\ a backslash
  smsparts <number> <order> <text>
                      a long SMS whose parts arrive out of order or not at all: <text> is
                      split as for sms, then only the parts <order> names (1-based, comma
                      separated, each at most once: 3,1,2 or 1,3) are stored, in that order
  reset               the modem restarts: start-up lines, power-up settings, calls dropped
  unplug              the USB cable is pulled: the pty closes (holders see EIO/EOF), the
                      link is removed
  plug                the cable is back: a new pty, the link points at it, start-up lines
  reenumerate         the modem drops off USB and comes back at once (a USB reset): the
                      pty closes, a new one takes the link, same identity, start-up lines
  hang                the modem answers nothing until AT+CFUN=1,1 restarts it (unless
                      `cfun ignore`), or `reset`, `reenumerate` or `plug`
  cfun ignore|obey    whether AT+CFUN=1,1 restarts the modem (obey, the default) or is
                      answered OK and does nothing (ignore)
  stall <ms>          the modem answers nothing for <ms> (input meanwhile is lost)
  stallon <prefix> <ms> [<skip>]
                      the next command line starting with <prefix> (AT+CMGD, ...; any
                      case), after <skip> such lines carried out (default 0), is not
                      carried out: the modem stalls for <ms> from then on
  reports <routed|stored|off> [<delay-ms>]
                      what happens to the status report of a message the host sends
                      with TP-SRR set, <delay-ms> after its +CMGS: routed follows AT+CNMI's
                      <ds> (1: +CDS: <length> and the PDU line; 2: stored, +CDSI), stored
                      keeps it in SIM storage unannounced (AT+CMGR/AT+CMGL show it), off
                      drops it
  garbage <n>         n random bytes on the port
  audio <file>        the caller's audio (with --audio-link): this WAV file, from its
                      start, once audio runs (AT+CPCMREG=1 in an answered call); then silence
  tone <hz>           the caller's audio: a sine of <hz> (20-7900) without end
  silence             the caller's audio: silence
  state               JSON: port, identity, settings, calls, SIM storage, SMS sent by the
                      host (decoded to number and text), SMS delivered, AT command history,
                      and with --audio-link the audio port: the host's audio received in the
                      last session (duration, frames, spacing jitter, dominant frequency)";

/// One control command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlCommand {
    /// An incoming call.
    Call {
        /// The caller's number (`+` for international).
        number: String,
        /// The caller withheld the number (`+CLIP: "",128,,,,1`).
        withheld: bool,
        /// Time between RINGs; `None` uses the configured default.
        ring_interval: Option<Duration>,
    },
    /// The remote party hangs up.
    Hangup,
    /// The remote party presses keys.
    Dtmf(String),
    /// A call that rings once and is given up.
    Missed(String),
    /// An SMS arrives.
    Sms {
        /// The sender.
        number: String,
        /// The text.
        text: String,
    },
    /// Some parts of a concatenated SMS arrive, in the order given.
    SmsParts {
        /// The sender.
        number: String,
        /// The parts that arrive, 1-based, in the order they arrive.
        order: Vec<u8>,
        /// The whole text, split as [`ControlCommand::Sms`] splits it.
        text: String,
    },
    /// The modem restarts.
    Reset,
    /// The cable is pulled.
    Unplug,
    /// The cable is back.
    Plug,
    /// Off USB and back at once: a new pty, the same identity.
    Reenumerate,
    /// Answer nothing until AT+CFUN=1,1 (unless ignored) or a restart.
    Hang,
    /// Whether AT+CFUN=1,1 is ignored.
    CfunIgnored(bool),
    /// Answer nothing for a while.
    Stall(Duration),
    /// Stall when the next command line starting with the prefix arrives (it is lost).
    StallOn {
        /// The command line's start, `AT+CMGD`.
        prefix: String,
        /// How long.
        duration: Duration,
        /// Matching lines carried out before the one that stalls.
        skip: u32,
    },
    /// What happens to status reports from now on.
    Reports {
        /// Routed, stored or dropped.
        mode: crate::config::StatusReports,
        /// After how long; `None` keeps the current delay.
        delay: Option<Duration>,
    },
    /// Random bytes on the port.
    Garbage(usize),
    /// Report the state as JSON.
    State,
    /// The caller's audio: a WAV file.
    Audio(PathBuf),
    /// The caller's audio: a tone of this many Hz.
    Tone(u32),
    /// The caller's audio: silence.
    Silence,
}

/// Why a control line or command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// The line is not a known command.
    #[error(
        "unknown control command {0:?} (try: call, hangup, dtmf, missed, sms, smsparts, reset, unplug, plug, reenumerate, hang, cfun, stall, stallon, reports, garbage, state, audio, tone, silence)"
    )]
    Unknown(String),
    /// A command's argument is missing or malformed.
    #[error("{command}: {problem}")]
    BadArgument {
        /// The command.
        command: &'static str,
        /// What is wrong, in words.
        problem: String,
    },
    /// The modem cannot do it now (no call to hang up, SIM full, ...).
    #[error("{0}")]
    Refused(String),
}

fn bad(command: &'static str, problem: impl Into<String>) -> ControlError {
    ControlError::BadArgument {
        command,
        problem: problem.into(),
    }
}

/// `smsparts`' `<order>`: part numbers 1..=255, comma separated, none twice.
fn part_order(s: &str) -> Result<Vec<u8>, ControlError> {
    let mut order = Vec::new();
    for n in s.split(',') {
        let part = n.parse::<u8>().ok().filter(|p| *p > 0).ok_or_else(|| {
            bad(
                "smsparts",
                format!("<order> {s:?}: {n:?} is not a part number 1..=255"),
            )
        })?;
        if order.contains(&part) {
            return Err(bad(
                "smsparts",
                format!("<order> {s:?} names part {part} twice"),
            ));
        }
        order.push(part);
    }
    Ok(order)
}

fn number(command: &'static str, s: Option<&str>) -> Result<String, ControlError> {
    let s = s.ok_or_else(|| bad(command, "missing <number>"))?;
    let digits = s.strip_prefix('+').unwrap_or(s);
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            command,
            format!("{s:?} is not a phone number (digits, optionally after a +, at most 20)"),
        ));
    }
    Ok(s.to_string())
}

fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

impl ControlCommand {
    /// Parses one control line (without its line end).
    pub fn parse(line: &str) -> Result<ControlCommand, ControlError> {
        let line = line.trim_end_matches(['\r', '\n']);
        let trimmed = line.trim_start();
        let (word, rest) = trimmed.split_once(' ').unwrap_or((trimmed, ""));
        let mut args = rest.split_whitespace();
        let no_more =
            |command: &'static str, mut args: std::str::SplitWhitespace<'_>| match args.next() {
                Some(extra) => Err(bad(command, format!("unexpected argument {extra:?}"))),
                None => Ok(()),
            };
        let cmd = match word {
            "call" => {
                let number = number("call", args.next())?;
                let mut withheld = false;
                let mut ring_interval = None;
                for a in args.by_ref() {
                    if a == "withheld" && !withheld && ring_interval.is_none() {
                        withheld = true;
                    } else if ring_interval.is_none() {
                        let ms: u64 = a.parse().map_err(|_| {
                            bad(
                                "call",
                                format!("{a:?} is neither `withheld` nor a ring interval in ms"),
                            )
                        })?;
                        if ms == 0 {
                            return Err(bad("call", "the ring interval must be at least 1 ms"));
                        }
                        ring_interval = Some(Duration::from_millis(ms));
                    } else {
                        return Err(bad("call", format!("unexpected argument {a:?}")));
                    }
                }
                ControlCommand::Call {
                    number,
                    withheld,
                    ring_interval,
                }
            }
            "hangup" => {
                no_more("hangup", args)?;
                ControlCommand::Hangup
            }
            "dtmf" => {
                let keys = args.next().ok_or_else(|| bad("dtmf", "missing <keys>"))?;
                if let Some(k) = keys
                    .chars()
                    .find(|c| !matches!(c, '0'..='9' | 'A'..='D' | '*' | '#'))
                {
                    return Err(bad(
                        "dtmf",
                        format!("{k:?} is not a DTMF key (0-9, A-D, *, #)"),
                    ));
                }
                no_more("dtmf", args)?;
                ControlCommand::Dtmf(keys.to_string())
            }
            "missed" => {
                let n = number("missed", args.next())?;
                no_more("missed", args)?;
                ControlCommand::Missed(n)
            }
            "sms" => {
                let rest = rest.trim_start();
                let (num, text) = rest.split_once(' ').unwrap_or((rest, ""));
                let number = number("sms", Some(num).filter(|s| !s.is_empty()))?;
                if text.is_empty() {
                    return Err(bad("sms", "missing <text>"));
                }
                ControlCommand::Sms {
                    number,
                    text: unescape(text),
                }
            }
            "smsparts" => {
                let rest = rest.trim_start();
                let (num, rest) = rest.split_once(' ').unwrap_or((rest, ""));
                let number = number("smsparts", Some(num).filter(|s| !s.is_empty()))?;
                let (order, text) = rest.trim_start().split_once(' ').unwrap_or((rest, ""));
                let order = part_order(order)?;
                if text.is_empty() {
                    return Err(bad("smsparts", "missing <text>"));
                }
                ControlCommand::SmsParts {
                    number,
                    order,
                    text: unescape(text),
                }
            }
            "reset" => {
                no_more("reset", args)?;
                ControlCommand::Reset
            }
            "unplug" => {
                no_more("unplug", args)?;
                ControlCommand::Unplug
            }
            "plug" => {
                no_more("plug", args)?;
                ControlCommand::Plug
            }
            "reenumerate" => {
                no_more("reenumerate", args)?;
                ControlCommand::Reenumerate
            }
            "hang" => {
                no_more("hang", args)?;
                ControlCommand::Hang
            }
            "cfun" => {
                let ignored = match args.next() {
                    Some("ignore") => true,
                    Some("obey") => false,
                    other => {
                        return Err(bad(
                            "cfun",
                            format!("{other:?}: say `cfun ignore` or `cfun obey`"),
                        ));
                    }
                };
                no_more("cfun", args)?;
                ControlCommand::CfunIgnored(ignored)
            }
            "stall" => {
                let a = args.next().ok_or_else(|| bad("stall", "missing <ms>"))?;
                let ms: u64 = a
                    .parse()
                    .map_err(|_| bad("stall", format!("{a:?} is not a number of milliseconds")))?;
                no_more("stall", args)?;
                ControlCommand::Stall(Duration::from_millis(ms))
            }
            "stallon" => {
                let prefix = args
                    .next()
                    .filter(|p| {
                        p.len() >= 2 && p.get(..2).is_some_and(|a| a.eq_ignore_ascii_case("AT"))
                    })
                    .ok_or_else(|| {
                        bad(
                            "stallon",
                            "missing <prefix> (a command line's start, AT...)",
                        )
                    })?;
                let a = args.next().ok_or_else(|| bad("stallon", "missing <ms>"))?;
                let ms: u64 = a.parse().map_err(|_| {
                    bad("stallon", format!("{a:?} is not a number of milliseconds"))
                })?;
                let skip = match args.next() {
                    Some(a) => a.parse().map_err(|_| {
                        bad("stallon", format!("<skip> {a:?} is not a count of lines"))
                    })?,
                    None => 0,
                };
                no_more("stallon", args)?;
                ControlCommand::StallOn {
                    prefix: prefix.to_string(),
                    duration: Duration::from_millis(ms),
                    skip,
                }
            }
            "reports" => {
                use crate::config::StatusReports;
                let mode = match args.next() {
                    Some("routed") => StatusReports::Routed,
                    Some("stored") => StatusReports::Stored,
                    Some("off") => StatusReports::Off,
                    Some(other) => {
                        return Err(bad(
                            "reports",
                            format!("{other:?} is not routed, stored or off"),
                        ));
                    }
                    None => return Err(bad("reports", "missing routed, stored or off")),
                };
                let delay = match args.next() {
                    Some(a) => Some(Duration::from_millis(a.parse().map_err(|_| {
                        bad("reports", format!("{a:?} is not a number of milliseconds"))
                    })?)),
                    None => None,
                };
                no_more("reports", args)?;
                ControlCommand::Reports { mode, delay }
            }
            "garbage" => {
                let a = args.next().ok_or_else(|| bad("garbage", "missing <n>"))?;
                let n: usize = a
                    .parse()
                    .map_err(|_| bad("garbage", format!("{a:?} is not a byte count")))?;
                if n > MAX_GARBAGE {
                    return Err(bad(
                        "garbage",
                        format!("{n} bytes is more than {MAX_GARBAGE}"),
                    ));
                }
                no_more("garbage", args)?;
                ControlCommand::Garbage(n)
            }
            "state" => {
                no_more("state", args)?;
                ControlCommand::State
            }
            "audio" => {
                // The rest of the line is the path: it may hold spaces.
                let path = rest.trim();
                if path.is_empty() {
                    return Err(bad("audio", "missing <file>"));
                }
                ControlCommand::Audio(PathBuf::from(path))
            }
            "tone" => {
                let a = args.next().ok_or_else(|| bad("tone", "missing <hz>"))?;
                let hz: u32 = a
                    .parse()
                    .map_err(|_| bad("tone", format!("{a:?} is not a frequency in Hz")))?;
                if !(MIN_TONE_HZ..=MAX_TONE_HZ).contains(&hz) {
                    return Err(bad(
                        "tone",
                        format!("{hz} Hz is outside {MIN_TONE_HZ}-{MAX_TONE_HZ} Hz"),
                    ));
                }
                no_more("tone", args)?;
                ControlCommand::Tone(hz)
            }
            "silence" => {
                no_more("silence", args)?;
                ControlCommand::Silence
            }
            _ => return Err(ControlError::Unknown(line.chars().take(80).collect())),
        };
        Ok(cmd)
    }
}

impl fmt::Display for ControlCommand {
    /// The control line for this command (what [`ControlCommand::parse`] reads back).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlCommand::Call {
                number,
                withheld,
                ring_interval,
            } => {
                write!(f, "call {number}")?;
                if *withheld {
                    write!(f, " withheld")?;
                }
                if let Some(i) = ring_interval {
                    write!(f, " {}", i.as_millis().max(1))?;
                }
                Ok(())
            }
            ControlCommand::Hangup => write!(f, "hangup"),
            ControlCommand::Dtmf(k) => write!(f, "dtmf {k}"),
            ControlCommand::Missed(n) => write!(f, "missed {n}"),
            ControlCommand::Sms { number, text } => write!(f, "sms {number} {}", escape(text)),
            ControlCommand::SmsParts {
                number,
                order,
                text,
            } => {
                let order: Vec<String> = order.iter().map(u8::to_string).collect();
                write!(f, "smsparts {number} {} {}", order.join(","), escape(text))
            }
            ControlCommand::Reset => write!(f, "reset"),
            ControlCommand::Unplug => write!(f, "unplug"),
            ControlCommand::Plug => write!(f, "plug"),
            ControlCommand::Reenumerate => write!(f, "reenumerate"),
            ControlCommand::Hang => write!(f, "hang"),
            ControlCommand::CfunIgnored(true) => write!(f, "cfun ignore"),
            ControlCommand::CfunIgnored(false) => write!(f, "cfun obey"),
            ControlCommand::Stall(d) => write!(f, "stall {}", d.as_millis()),
            ControlCommand::StallOn {
                prefix,
                duration,
                skip,
            } => write!(f, "stallon {prefix} {} {skip}", duration.as_millis()),
            ControlCommand::Reports { mode, delay } => {
                let word = match mode {
                    crate::config::StatusReports::Routed => "routed",
                    crate::config::StatusReports::Stored => "stored",
                    crate::config::StatusReports::Off => "off",
                };
                write!(f, "reports {word}")?;
                if let Some(d) = delay {
                    write!(f, " {}", d.as_millis())?;
                }
                Ok(())
            }
            ControlCommand::Garbage(n) => write!(f, "garbage {n}"),
            ControlCommand::State => write!(f, "state"),
            ControlCommand::Audio(p) => write!(f, "audio {}", p.display()),
            ControlCommand::Tone(hz) => write!(f, "tone {hz}"),
            ControlCommand::Silence => write!(f, "silence"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_survives_a_round_trip_through_its_line() {
        let all = [
            ControlCommand::Call {
                number: "+491761234567".into(),
                withheld: true,
                ring_interval: Some(Duration::from_millis(50)),
            },
            ControlCommand::Call {
                number: "0123".into(),
                withheld: false,
                ring_interval: None,
            },
            ControlCommand::Hangup,
            ControlCommand::Dtmf("12*#AD".into()),
            ControlCommand::Missed("07712345678".into()),
            ControlCommand::Sms {
                number: "+4917".into(),
                text: "two\nlines \\ and spaces".into(),
            },
            ControlCommand::SmsParts {
                number: "+4917".into(),
                order: vec![3, 1],
                text: "a long text".into(),
            },
            ControlCommand::Reset,
            ControlCommand::Unplug,
            ControlCommand::Plug,
            ControlCommand::Reenumerate,
            ControlCommand::Hang,
            ControlCommand::CfunIgnored(true),
            ControlCommand::CfunIgnored(false),
            ControlCommand::Stall(Duration::from_millis(250)),
            ControlCommand::StallOn {
                prefix: "AT+CMGD".into(),
                duration: Duration::from_millis(3000),
                skip: 2,
            },
            ControlCommand::Garbage(17),
            ControlCommand::State,
            ControlCommand::Audio("/tmp/a caller/hello.wav".into()),
            ControlCommand::Tone(1000),
            ControlCommand::Silence,
        ];
        for c in all {
            assert_eq!(ControlCommand::parse(&c.to_string()), Ok(c));
        }
    }

    #[test]
    fn bad_lines_name_the_command_and_the_problem() {
        let err = |l: &str| ControlCommand::parse(l).unwrap_err().to_string();
        assert!(err("call").contains("call: missing <number>"));
        assert!(err("call 12ab").contains("is not a phone number"));
        assert!(err("call 123 soon").contains("neither `withheld` nor a ring interval"));
        assert!(err("dtmf 12x").contains("'x' is not a DTMF key"));
        assert!(err("sms 123").contains("missing <text>"));
        assert!(err("garbage 999999").contains("more than"));
        assert!(err("dance").contains("unknown control command"));
        assert!(err("hangup now").contains("unexpected argument"));
        assert!(err("audio").contains("audio: missing <file>"));
        assert!(err("tone loud").contains("\"loud\" is not a frequency"));
        assert!(err("tone 9000").contains("outside 20-7900 Hz"));
    }
}
