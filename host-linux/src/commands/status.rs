//! `sim7600 status`: what the seed's monitoring commands tell (`systemctl is-active
//! smstools`, `systemctl is-active sim7600-voice-bot`, `lsof /dev/ttyUSB2`) in one view,
//! plus the restore markers, and which of the seed's expected states this is. The facts
//! are gathered here; the state is decided by [`seed_state`], a pure function. Status
//! is read-only: it reports a stale marker rather than restoring it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::config::Config;
use crate::handoff::backend::Backend;
use crate::handoff::marker::{Marker, markers_in};
use crate::handoff::run::run as run_program;
use crate::handoff::{BackendSpec, OwnerVerdict};
use crate::holders::{self, Holder};

/// The folder whose existence means systemd is PID 1 (what `sd_booted()` checks).
pub const SYSTEMD_RUNTIME_DIR: &str = "/run/systemd/system";
/// The command name smsd's processes show in /proc.
pub const SMSD_COMMAND: &str = "smsd";

/// The voice bot's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BotState {
    /// Running.
    Active,
    /// Starting (or being restarted).
    Activating,
    /// Stopping.
    Deactivating,
    /// Not running.
    Inactive,
    /// Ended in failure.
    Failed,
    /// systemctl said something else.
    Unknown,
}

impl BotState {
    /// The word systemctl uses.
    pub fn name(self) -> &'static str {
        match self {
            BotState::Active => "active",
            BotState::Activating => "activating",
            BotState::Deactivating => "deactivating",
            BotState::Inactive => "inactive",
            BotState::Failed => "failed",
            BotState::Unknown => "unknown",
        }
    }

    /// The state from `systemctl is-active`'s output.
    pub fn from_is_active(output: &str) -> BotState {
        match output.lines().next().map(str::trim) {
            Some("active" | "reloading" | "refreshing") => BotState::Active,
            Some("activating") => BotState::Activating,
            Some("deactivating") => BotState::Deactivating,
            Some("inactive") => BotState::Inactive,
            Some("failed") => BotState::Failed,
            _ => BotState::Unknown,
        }
    }
}

/// How the bot's state was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BotEvidence {
    /// `systemctl is-active <bot_unit>`.
    Systemd,
    /// No systemd: a live owner of a restore marker for the port is the bot.
    Marker,
}

/// A restore marker and its owner's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MarkerView {
    /// The file.
    pub path: PathBuf,
    /// The port it is for.
    pub port: PathBuf,
    /// Its owner.
    pub owner_pid: u32,
    /// The owner's command name.
    pub owner_command: String,
    /// Whether the owner lives.
    pub owner_alive: bool,
    /// Whether smstools must be restored when the owner ends.
    pub smstools_was_active: bool,
}

/// Everything status looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusFacts {
    /// The port.
    pub port: PathBuf,
    /// Whether the port's node exists (the modem is plugged in).
    pub port_present: bool,
    /// Whether smstools serves the port (`None`: could not tell).
    pub smstools_active: Option<bool>,
    /// Why smstools' state is unknown.
    pub smstools_error: Option<String>,
    /// The voice bot.
    pub bot: BotState,
    /// How the bot's state was found.
    pub bot_evidence: BotEvidence,
    /// Who holds the port.
    pub holders: Vec<Holder>,
    /// The restore markers.
    pub markers: Vec<MarkerView>,
}

/// One of the seed's expected states, or why none fits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "why", rename_all = "snake_case")]
pub enum SeedState {
    /// smstools stopped, voice bot inactive, no modem.
    Idle,
    /// A modem is there, smstools running (or being stopped), the voice bot starting.
    ModemDetected,
    /// smstools stopped, the voice bot running and holding the port.
    VoiceBotActive,
    /// smstools running, the voice bot inactive: SMS as usual.
    VoiceBotStopped,
    /// None of the above, and why.
    Inconsistent(String),
}

impl SeedState {
    /// The name a person reads.
    pub fn describe(&self) -> String {
        match self {
            SeedState::Idle => "idle (no modem)".into(),
            SeedState::ModemDetected => "modem detected (voice bot starting)".into(),
            SeedState::VoiceBotActive => "voice bot active".into(),
            SeedState::VoiceBotStopped => "voice bot stopped (smstools serves the modem)".into(),
            SeedState::Inconsistent(why) => format!("inconsistent: {why}"),
        }
    }
}

fn list(holders: &[&Holder]) -> String {
    holders
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Decides which expected state the facts show (pure).
pub fn seed_state(f: &StatusFacts) -> SeedState {
    let port = f.port.display();
    let Some(sms) = f.smstools_active else {
        return SeedState::Inconsistent(format!(
            "cannot tell whether smstools is active: {}",
            f.smstools_error.as_deref().unwrap_or("no answer")
        ));
    };
    if let Some(m) = f
        .markers
        .iter()
        .find(|m| !m.owner_alive && m.smstools_was_active)
    {
        return SeedState::Inconsistent(format!(
            "pid {} ({}) ended holding {} without giving it back (marker {}): run `sim7600 restore`",
            m.owner_pid,
            m.owner_command,
            m.port.display(),
            m.path.display()
        ));
    }
    let bot_on = f.bot == BotState::Active;
    let bot_starting = matches!(f.bot, BotState::Activating);
    let bot_off = matches!(f.bot, BotState::Inactive | BotState::Failed);
    if !f.port_present {
        return match (sms, bot_on || bot_starting) {
            (false, false) => SeedState::Idle,
            (true, _) => SeedState::Inconsistent(format!(
                "smstools is active but {port} does not exist (no modem)"
            )),
            (false, true) => SeedState::Inconsistent(format!(
                "the voice bot is {} but {port} does not exist (no modem)",
                f.bot.name()
            )),
        };
    }
    let foreign: Vec<&Holder> = f
        .holders
        .iter()
        .filter(|h| h.command != SMSD_COMMAND)
        .collect();
    let owners: Vec<u32> = f
        .markers
        .iter()
        .filter(|m| m.owner_alive)
        .map(|m| m.owner_pid)
        .collect();
    if bot_starting {
        return SeedState::ModemDetected;
    }
    match (sms, bot_on) {
        (true, true) => SeedState::Inconsistent(format!(
            "smstools and the voice bot are both active: they would share {port}"
        )),
        (true, false) if bot_off || f.bot == BotState::Deactivating => {
            if foreign.is_empty() {
                SeedState::VoiceBotStopped
            } else {
                SeedState::Inconsistent(format!(
                    "{port} is held by {} besides smstools",
                    list(&foreign)
                ))
            }
        }
        (false, true) => {
            let strangers: Vec<&Holder> = foreign
                .iter()
                .copied()
                .filter(|h| u32::try_from(h.pid).map_or(true, |p| !owners.contains(&p)))
                .collect();
            if f.holders.iter().any(|h| h.command == SMSD_COMMAND) {
                SeedState::Inconsistent(format!(
                    "the voice bot is active but smsd still holds {port}"
                ))
            } else if !strangers.is_empty() && !owners.is_empty() {
                SeedState::Inconsistent(format!(
                    "{port} is held by {} besides the voice bot",
                    list(&strangers)
                ))
            } else {
                SeedState::VoiceBotActive
            }
        }
        (false, false) => SeedState::Inconsistent(format!(
            "the modem is present but smstools is stopped and the voice bot is {}: nobody serves SMS (start smstools or run `sim7600 restore`)",
            f.bot.name()
        )),
        (true, false) => SeedState::Inconsistent(format!(
            "smstools is active and the voice bot's state is {}",
            f.bot.name()
        )),
    }
}

/// Gathers the facts for `port` (or the configured one). `systemd` says whether systemd
/// is PID 1 (see [`systemd_booted`]); without it the bot's state comes from the markers.
pub fn gather(config: &Config, port: Option<&Path>, systemd: bool) -> StatusFacts {
    let port = port.map_or_else(|| config.port.clone(), Path::to_path_buf);
    let timeout = Duration::from_millis(config.timeouts.command_ms);
    let backend = Backend::new(config.handoff.clone(), timeout);
    let (smstools_active, smstools_error) = match backend.is_active() {
        Ok(a) => (Some(a), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let mut markers = Vec::new();
    match markers_in(&config.marker_dir) {
        Ok(paths) => {
            for path in paths {
                match Marker::read(&path) {
                    Ok(Some(m)) => markers.push(MarkerView {
                        owner_alive: m.owner_now() == OwnerVerdict::Alive,
                        path,
                        port: m.port,
                        owner_pid: m.owner_pid,
                        owner_command: m.owner_command,
                        smstools_was_active: m.smstools_was_active,
                    }),
                    Ok(None) => {}
                    Err(e) => log::warn!("{e}"),
                }
            }
        }
        Err(e) => log::warn!("{e}"),
    }
    let (bot, bot_evidence) = if systemd {
        let systemctl = match &config.handoff {
            BackendSpec::Systemctl { systemctl, .. } => systemctl.to_string_lossy().into_owned(),
            _ => "systemctl".to_owned(),
        };
        let argv = vec![
            systemctl,
            "is-active".into(),
            "--".into(),
            config.bot_unit.as_str().to_owned(),
        ];
        let state = match run_program(&argv, timeout) {
            Ok(f) => BotState::from_is_active(&f.output),
            Err(e) => {
                log::warn!("{e}");
                BotState::Unknown
            }
        };
        (state, BotEvidence::Systemd)
    } else {
        let live = markers.iter().any(|m| m.owner_alive && m.port == port);
        (
            if live {
                BotState::Active
            } else {
                BotState::Inactive
            },
            BotEvidence::Marker,
        )
    };
    let port_present = port.exists();
    let holders = if port_present {
        holders::holders_of(&port).unwrap_or_else(|e| {
            log::warn!("{e}");
            Vec::new()
        })
    } else {
        Vec::new()
    };
    StatusFacts {
        port,
        port_present,
        smstools_active,
        smstools_error,
        bot,
        bot_evidence,
        holders,
        markers,
    }
}

/// Whether systemd is PID 1.
pub fn systemd_booted() -> bool {
    Path::new(SYSTEMD_RUNTIME_DIR).is_dir()
}

/// The facts and the state for a person.
pub fn render(config: &Config, f: &StatusFacts, state: &SeedState) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "port:      {} ({})\n",
        f.port.display(),
        if f.port_present { "present" } else { "absent" }
    ));
    let sms = match f.smstools_active {
        Some(true) => "active".to_owned(),
        Some(false) => "inactive".to_owned(),
        None => format!("unknown ({})", f.smstools_error.as_deref().unwrap_or("?")),
    };
    out.push_str(&format!(
        "smstools:  {sms} ({})\n",
        config.handoff.describe()
    ));
    let how = match f.bot_evidence {
        BotEvidence::Systemd => format!("systemctl is-active {}", config.bot_unit),
        BotEvidence::Marker => "no systemd: from the restore markers".to_owned(),
    };
    out.push_str(&format!("voice bot: {} ({how})\n", f.bot.name()));
    if f.holders.is_empty() {
        out.push_str("holders:   none\n");
    } else {
        let hs: Vec<&Holder> = f.holders.iter().collect();
        out.push_str(&format!("holders:   {}\n", list(&hs)));
    }
    if f.markers.is_empty() {
        out.push_str("markers:   none\n");
    }
    for m in &f.markers {
        out.push_str(&format!(
            "marker:    {} (pid {} {}, {}; port {})\n",
            m.path.display(),
            m.owner_pid,
            m.owner_command,
            if m.owner_alive { "alive" } else { "gone" },
            m.port.display()
        ));
    }
    out.push_str(&format!("state:     {}\n", state.describe()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(port_present: bool, sms: bool, bot: BotState) -> StatusFacts {
        StatusFacts {
            port: "/dev/ttyUSB2".into(),
            port_present,
            smstools_active: Some(sms),
            smstools_error: None,
            bot,
            bot_evidence: BotEvidence::Systemd,
            holders: Vec::new(),
            markers: Vec::new(),
        }
    }

    fn smsd(pid: i32) -> Holder {
        Holder {
            pid,
            command: "smsd".into(),
        }
    }

    fn bot_marker(pid: u32, alive: bool) -> MarkerView {
        MarkerView {
            path: "/run/sim7600/dev_ttyUSB2.lease.json".into(),
            port: "/dev/ttyUSB2".into(),
            owner_pid: pid,
            owner_command: "sim7600".into(),
            owner_alive: alive,
            smstools_was_active: true,
        }
    }

    #[test]
    fn no_modem_nothing_running_is_idle() {
        assert_eq!(
            seed_state(&facts(false, false, BotState::Inactive)),
            SeedState::Idle
        );
    }

    #[test]
    fn smstools_holding_the_modem_with_the_bot_inactive_is_voice_bot_stopped() {
        let mut f = facts(true, true, BotState::Inactive);
        f.holders = vec![smsd(100), smsd(101)];
        assert_eq!(seed_state(&f), SeedState::VoiceBotStopped);
    }

    #[test]
    fn a_starting_bot_is_modem_detected() {
        assert_eq!(
            seed_state(&facts(true, true, BotState::Activating)),
            SeedState::ModemDetected
        );
    }

    #[test]
    fn the_bot_holding_the_port_with_smstools_stopped_is_voice_bot_active() {
        let mut f = facts(true, false, BotState::Active);
        f.holders = vec![Holder {
            pid: 300,
            command: "sim7600".into(),
        }];
        f.markers = vec![bot_marker(300, true)];
        assert_eq!(seed_state(&f), SeedState::VoiceBotActive);
    }

    #[test]
    fn both_active_is_inconsistent() {
        let s = seed_state(&facts(true, true, BotState::Active));
        assert!(
            matches!(s, SeedState::Inconsistent(ref why) if why.contains("both active")),
            "{s:?}"
        );
    }

    #[test]
    fn a_modem_nobody_serves_is_inconsistent() {
        let s = seed_state(&facts(true, false, BotState::Inactive));
        assert!(
            matches!(s, SeedState::Inconsistent(ref why) if why.contains("nobody serves SMS")),
            "{s:?}"
        );
    }

    #[test]
    fn a_stale_marker_is_inconsistent_and_names_the_dead_owner() {
        let mut f = facts(true, false, BotState::Inactive);
        f.markers = vec![bot_marker(4242, false)];
        let s = seed_state(&f);
        assert!(
            matches!(s, SeedState::Inconsistent(ref why) if why.contains("4242") && why.contains("sim7600 restore")),
            "{s:?}"
        );
    }

    #[test]
    fn a_foreign_holder_beside_smstools_is_inconsistent_and_named() {
        let mut f = facts(true, true, BotState::Inactive);
        f.holders = vec![
            smsd(100),
            Holder {
                pid: 555,
                command: "minicom".into(),
            },
        ];
        let s = seed_state(&f);
        assert!(
            matches!(s, SeedState::Inconsistent(ref why) if why.contains("pid 555 (minicom)")),
            "{s:?}"
        );
    }

    #[test]
    fn smstools_running_without_a_modem_is_inconsistent() {
        let s = seed_state(&facts(false, true, BotState::Inactive));
        assert!(
            matches!(s, SeedState::Inconsistent(ref why) if why.contains("does not exist")),
            "{s:?}"
        );
    }

    #[test]
    fn an_unknown_smstools_state_is_inconsistent_with_the_reason() {
        let mut f = facts(true, true, BotState::Inactive);
        f.smstools_active = None;
        f.smstools_error = Some("`systemctl is-active -- smstools` did not finish".into());
        let s = seed_state(&f);
        assert!(
            matches!(s, SeedState::Inconsistent(ref why) if why.contains("did not finish")),
            "{s:?}"
        );
    }

    #[test]
    fn smsd_still_holding_the_port_under_an_active_bot_is_inconsistent() {
        let mut f = facts(true, false, BotState::Active);
        f.holders = vec![smsd(100)];
        let s = seed_state(&f);
        assert!(
            matches!(s, SeedState::Inconsistent(ref why) if why.contains("smsd still holds")),
            "{s:?}"
        );
    }

    #[test]
    fn systemctl_is_active_output_is_read() {
        assert_eq!(BotState::from_is_active("active\n"), BotState::Active);
        assert_eq!(BotState::from_is_active("inactive\n"), BotState::Inactive);
        assert_eq!(
            BotState::from_is_active("activating\n"),
            BotState::Activating
        );
        assert_eq!(BotState::from_is_active("failed"), BotState::Failed);
        assert_eq!(BotState::from_is_active(""), BotState::Unknown);
    }
}
