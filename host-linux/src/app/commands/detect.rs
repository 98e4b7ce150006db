//! `sim7600 detect`: the seed's phase 1. Take the port from smstools, ask `AT`,
//! `AT+CGMI`, `AT+CGMM`, give the port back at once, and say who the modem is and how
//! long SMS was down (from smstools confirmed stopped to smstools confirmed active again).
//! smstools runs afterwards in every case where it ran before: the lease guarantees it.

use std::path::Path;
use std::time::Duration;

use modem_core::driver::{Error as ModemError, ErrorKind, Identity};
use serde::Serialize;

use crate::app::config::Config;
use crate::handoff::{HandoffError, PortLease};
use crate::platform::link::{LinkError, PROBE_CMD_COOLDOWN, with_link_cooldown};

/// What detect concluded, with its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A SIM7600 answered (exit 0).
    Sim7600,
    /// Another modem answered (exit 1).
    OtherModem,
    /// Nothing usable answered (exit 2).
    NoAnswer,
    /// The port could not be taken or smstools not given back (exit 3).
    HandoffFailed,
}

impl Verdict {
    /// The exit status the CLI returns.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Sim7600 => 0,
            Verdict::OtherModem => 1,
            Verdict::NoAnswer => 2,
            Verdict::HandoffFailed => 3,
        }
    }
}

/// What detect found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DetectReport {
    /// The port asked.
    pub port: String,
    /// The conclusion.
    pub verdict: Verdict,
    /// `AT+CGMI`, when it answered.
    pub manufacturer: Option<String>,
    /// `AT+CGMM`, when it answered.
    pub model: Option<String>,
    /// Whether smstools was serving the port before.
    pub smstools_was_active: Option<bool>,
    /// How long SMS was down, in ms (smstools stopped -> smstools active again).
    pub pause_ms: Option<u64>,
    /// What went wrong, as one sentence.
    pub error: Option<String>,
    /// What to look at next, when there is something to say (no port: power, lsusb, udev).
    pub hint: Option<String>,
}

/// What to check when the port does not exist.
pub const NO_PORT_HINT: &str = "is the modem powered (a HAT needs its power key pressed or its power jumper set)? `lsusb` lists a SIM7600 as 1e0e:9001 once it is up; with the udev rule installed its AT port is /dev/sim7600-at (`ls -l /dev/sim7600-at /dev/ttyUSB*`)";

/// Why the probe gave no identity.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProbeFailure {
    /// The modem answered with an error or not at all.
    #[error("{command}: {kind:?}{}", link.as_ref().map(|l| format!(" ({l})")).unwrap_or_default())]
    Modem {
        /// The command that failed.
        command: &'static str,
        /// How.
        kind: ErrorKind,
        /// What the link said about the port meanwhile (EIO on unplug).
        link: Option<Box<LinkError>>,
    },
    /// The link could not be set up.
    #[error(transparent)]
    Link(#[from] LinkError),
}

impl ProbeFailure {
    fn from_modem(e: &ModemError, link: Option<LinkError>) -> Self {
        ProbeFailure::Modem {
            command: e.command,
            kind: e.kind.clone(),
            link: link.map(Box::new),
        }
    }
}

/// Decides the verdict of a probe (pure). `AT` answering but `AT+CGMI`/`AT+CGMM` refused
/// (`ERROR`, `+CME ERROR`) is a modem that is not a SIM7600; silence, a garbled reply or a
/// failing port is no answer.
pub fn verdict_of(probe: &Result<Identity, ProbeFailure>) -> Verdict {
    match probe {
        Ok(id) if id.is_sim7600 => Verdict::Sim7600,
        Ok(_) => Verdict::OtherModem,
        Err(ProbeFailure::Modem {
            command,
            kind,
            link: None,
        }) if ModemError::new(command, kind.clone()).is_identity_refusal() => Verdict::OtherModem,
        Err(_) => Verdict::NoAnswer,
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Runs detect on `port` (or the configured one).
pub fn run(config: &Config, port: Option<&Path>) -> DetectReport {
    let settings = config.lease_settings(port);
    let mut report = DetectReport {
        port: settings.port.display().to_string(),
        verdict: Verdict::HandoffFailed,
        manufacturer: None,
        model: None,
        smstools_was_active: None,
        pause_ms: None,
        error: None,
        hint: None,
    };
    let port_path = settings.port.clone();
    // No port, no modem: nothing to ask, and no reason to stop smstools for it.
    if !port_path.exists() {
        report.verdict = Verdict::NoAnswer;
        report.error = Some(format!(
            "{} does not exist: no modem there; smstools was not touched",
            port_path.display()
        ));
        report.hint = Some(NO_PORT_HINT.to_owned());
        return report;
    }
    let mut lease = match PortLease::acquire(settings) {
        Ok(l) => l,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    report.smstools_was_active = Some(lease.smstools_was_active());
    let probe = match lease.port() {
        Some(tty) => with_link_cooldown(tty, &port_path, PROBE_CMD_COOLDOWN, |link| {
            futures::executor::block_on(link.modem.probe())
                .map_err(|e| ProbeFailure::from_modem(&e, link.failure()))
        })
        .map_err(ProbeFailure::from)
        .and_then(|r| r),
        None => Err(ProbeFailure::Link(LinkError::Open {
            port: port_path.clone(),
            problem: "the lease holds no port".into(),
        })),
    };
    let released: Result<_, HandoffError> = lease.release();
    report.verdict = verdict_of(&probe);
    match &probe {
        Ok(id) => {
            report.manufacturer = Some(id.manufacturer.as_str().to_owned());
            report.model = Some(id.model.as_str().to_owned());
        }
        Err(e) => report.error = Some(format!("no identity from {}: {e}", port_path.display())),
    }
    match released {
        Ok(r) => report.pause_ms = r.pause.map(ms),
        Err(e) => {
            report.verdict = Verdict::HandoffFailed;
            let msg = format!("giving the port back failed: {e}");
            report.error = Some(match report.error.take() {
                Some(first) => format!("{first}; {msg}"),
                None => msg,
            });
        }
    }
    report
}

/// The report for a person.
pub fn render(report: &DetectReport) -> String {
    let mut out = String::new();
    let identity = match (&report.manufacturer, &report.model) {
        (Some(m), Some(model)) => format!("{m} {model}"),
        _ => "no identity".to_owned(),
    };
    let what = match report.verdict {
        Verdict::Sim7600 => "a SIM7600",
        Verdict::OtherModem => "not a SIM7600",
        Verdict::NoAnswer => "no answer",
        Verdict::HandoffFailed => "handoff failed",
    };
    out.push_str(&format!("port {}: {identity} ({what})\n", report.port));
    match (report.smstools_was_active, report.pause_ms) {
        (Some(true), Some(p)) => out.push_str(&format!(
            "smstools pause: {p} ms (stopped -> running again)\n"
        )),
        (Some(false), _) => out.push_str("smstools was not running: no pause\n"),
        _ => {}
    }
    if let Some(e) = &report.error {
        out.push_str(&format!("error: {e}\n"));
    }
    if let Some(h) = &report.hint {
        out.push_str(&format!("hint: {h}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_port_is_no_answer_with_a_hint_and_smstools_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let touched = dir.path().join("stopped");
        let config = Config {
            marker_dir: dir.path().join("markers"),
            handoff: crate::handoff::BackendSpec::Commands {
                stop: vec!["touch".into(), touched.display().to_string()],
                start: vec!["true".into()],
                status: vec!["true".into()],
            },
            ..Config::default()
        };
        let port = dir.path().join("ttyUSB2");
        let report = run(&config, Some(&port));
        assert_eq!(report.verdict.exit_code(), 2);
        assert!(report.error.as_deref().unwrap().contains("does not exist"));
        let text = render(&report);
        assert!(
            text.contains("hint:") && text.contains("lsusb") && text.contains("/dev/sim7600-at"),
            "{text}"
        );
        assert!(
            !touched.exists(),
            "smstools was stopped for a port that is not there"
        );
    }
    use heapless::String as HString;

    fn id(m: &str, model: &str) -> Identity {
        Identity::new(
            HString::try_from(m).unwrap(),
            HString::try_from(model).unwrap(),
        )
    }

    fn failed(command: &'static str, kind: ErrorKind) -> Result<Identity, ProbeFailure> {
        Err(ProbeFailure::Modem {
            command,
            kind,
            link: None,
        })
    }

    #[test]
    fn a_sim7600_exits_0() {
        let v = verdict_of(&Ok(id("SIMCOM INCORPORATED", "SIMCOM_SIM7600E-H")));
        assert_eq!((v, v.exit_code()), (Verdict::Sim7600, 0));
    }

    #[test]
    fn another_modem_exits_1() {
        let v = verdict_of(&Ok(id("Quectel", "EC25")));
        assert_eq!((v, v.exit_code()), (Verdict::OtherModem, 1));
    }

    #[test]
    fn a_modem_that_refuses_cgmi_is_another_modem() {
        assert_eq!(
            verdict_of(&failed("AT+CGMI", ErrorKind::Error)),
            Verdict::OtherModem
        );
    }

    #[test]
    fn silence_exits_2() {
        let v = verdict_of(&failed("AT", ErrorKind::Timeout));
        assert_eq!((v, v.exit_code()), (Verdict::NoAnswer, 2));
        assert_eq!(
            verdict_of(&failed("AT+CGMM", ErrorKind::Timeout)),
            Verdict::NoAnswer
        );
    }

    #[test]
    fn a_port_that_fails_mid_probe_is_no_answer() {
        let p = Err(ProbeFailure::Modem {
            command: "AT+CGMI",
            kind: ErrorKind::Error,
            link: Some(Box::new(LinkError::Unplugged {
                port: "/dev/ttyUSB2".into(),
            })),
        });
        assert_eq!(verdict_of(&p), Verdict::NoAnswer);
    }

    #[test]
    fn the_handoff_failing_exits_3() {
        assert_eq!(Verdict::HandoffFailed.exit_code(), 3);
    }
}
