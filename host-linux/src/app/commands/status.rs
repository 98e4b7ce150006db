//! `sim7600 status`: what the seed's monitoring commands tell (`systemctl is-active
//! smstools`, `systemctl is-active sim7600-voice-bot`, `lsof /dev/ttyUSB2`) in one view,
//! plus the restore markers, and which of the seed's expected states this is. The facts
//! are gathered here; the state is decided by [`seed_state`], a pure function. Status
//! is read-only: it reports a stale marker rather than restoring it.
//!
//! Status never guesses: a systemctl that fails (no such unit, no systemd as PID 1, no
//! permission) is an error shown with systemctl's words, never "inactive", and a user who
//! may not read other processes' descriptors is told so instead of "holders: none". The
//! state is then [`SeedState::Unknown`] (exit status [`EXIT_UNKNOWN`]), not
//! "inconsistent".

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::app::config::Config;
use crate::handoff::backend::Backend;
use crate::handoff::marker::{Marker, markers_in};
use crate::handoff::run::run as run_program;
use crate::handoff::{BackendSpec, OwnerVerdict};
use crate::platform::holders::{self, Holder};

/// The folder whose existence means systemd is PID 1 (what `sd_booted()` checks).
pub const SYSTEMD_RUNTIME_DIR: &str = "/run/systemd/system";
/// The command name smsd's processes show in /proc.
pub const SMSD_COMMAND: &str = "smsd";
/// Exit status of `status` for "inconsistent".
pub const EXIT_INCONSISTENT: u8 = 1;
/// Exit status of `status` when a fact could not be read (systemctl failed, or the
/// holders of the port cannot all be seen without root): the state is unknown.
pub const EXIT_UNKNOWN: u8 = 2;

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

    /// The state from an ActiveState word (`systemctl is-active`'s output, or the value
    /// of `systemctl show`'s `ActiveState=`).
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
    /// `systemctl show <bot_unit>`'s ActiveState.
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
    /// Why the bot's state is unknown (systemctl failed, with its message).
    pub bot_error: Option<String>,
    /// How the bot's state was found.
    pub bot_evidence: BotEvidence,
    /// Who holds the port (of the processes this user may look at).
    pub holders: Vec<Holder>,
    /// Processes whose descriptors this user may not read: any of them may hold the port.
    pub holders_hidden: u32,
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
    /// A fact could not be read, so no state can be concluded; why.
    Unknown(String),
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
            SeedState::Unknown(why) => format!("unknown: {why}"),
        }
    }

    /// The exit status of `sim7600 status` for this state: 0, [`EXIT_INCONSISTENT`] or
    /// [`EXIT_UNKNOWN`].
    pub fn exit_code(&self) -> u8 {
        match self {
            SeedState::Inconsistent(_) => EXIT_INCONSISTENT,
            SeedState::Unknown(_) => EXIT_UNKNOWN,
            _ => 0,
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
        return SeedState::Unknown(format!(
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
    if let Some(e) = &f.bot_error {
        return SeedState::Unknown(format!("cannot tell whether the voice bot runs: {e}"));
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
    if f.holders_hidden > 0 {
        return SeedState::Unknown(format!(
            "cannot tell who holds {port}: {}",
            hidden_reason(f.holders_hidden)
        ));
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

fn hidden_reason(hidden: u32) -> String {
    format!(
        "this user may not read the descriptors of {hidden} process{} (run `sim7600 status` as root)",
        if hidden == 1 { "" } else { "es" }
    )
}

/// The `systemctl show` command line that asks for `unit`'s load and active state.
pub fn show_argv(systemctl: &str, unit: &str) -> Vec<String> {
    vec![
        systemctl.to_owned(),
        "show".into(),
        "--property=LoadState".into(),
        "--property=ActiveState".into(),
        "--".into(),
        unit.to_owned(),
    ]
}

/// `unit`'s ActiveState from `systemctl show`'s output, or why there is none: a unit
/// systemd does not know (`LoadState=not-found`) is an error, never "inactive".
pub fn active_state(unit: &str, output: &str) -> Result<String, String> {
    let value = |key: &str| {
        output
            .lines()
            .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
            .map(str::to_owned)
    };
    if value("LoadState").as_deref() == Some("not-found") {
        return Err(format!("systemd has no unit {unit} (LoadState=not-found)"));
    }
    value("ActiveState")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("systemctl gave no ActiveState for {unit}: {output:?}"))
}

/// Asks systemctl for `unit`'s ActiveState; every failure is an error with systemctl's
/// own words.
pub fn unit_active_state(systemctl: &str, unit: &str, timeout: Duration) -> Result<String, String> {
    let argv = show_argv(systemctl, unit);
    let finished = run_program(&argv, timeout).map_err(|e| e.to_string())?;
    if !finished.status.success() {
        return Err(format!(
            "`{}` failed ({}): {}",
            crate::handoff::run::show_argv(&argv),
            finished.status,
            // One line: the message is quoted in the status line and the state's reason.
            finished
                .output
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    active_state(unit, &finished.output)
}

/// Gathers the facts for `port` (or the configured one). `systemd` says whether systemd
/// is PID 1 (see [`systemd_booted`]); without it the bot's state comes from the markers.
pub fn gather(config: &Config, port: Option<&Path>, systemd: bool) -> StatusFacts {
    let port = port.map_or_else(|| config.port.clone(), Path::to_path_buf);
    let timeout = Duration::from_millis(config.timeouts.command_ms);
    let backend = Backend::new(config.handoff.clone(), timeout);
    let smstools = match &config.handoff {
        // `show`, not `is-active`: is-active calls a unit systemd does not know inactive.
        BackendSpec::Systemctl { unit, systemctl } => {
            unit_active_state(&systemctl.to_string_lossy(), unit.as_str(), timeout)
                .map(|state| matches!(state.as_str(), "active" | "reloading" | "refreshing"))
        }
        _ => backend.is_active().map_err(|e| e.to_string()),
    };
    let (smstools_active, smstools_error) = match smstools {
        Ok(a) => (Some(a), None),
        Err(e) => (None, Some(e)),
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
    let mut bot_error = None;
    let (bot, bot_evidence) = if systemd {
        let systemctl = match &config.handoff {
            BackendSpec::Systemctl { systemctl, .. } => systemctl.to_string_lossy().into_owned(),
            _ => "systemctl".to_owned(),
        };
        let state = match unit_active_state(&systemctl, config.bot_unit.as_str(), timeout) {
            Ok(word) => BotState::from_is_active(&word),
            Err(e) => {
                bot_error = Some(e);
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
    let scan = if port_present {
        holders::scan(&port).unwrap_or_else(|e| {
            log::warn!("{e}");
            holders::HolderScan::default()
        })
    } else {
        holders::HolderScan::default()
    };
    StatusFacts {
        port,
        port_present,
        smstools_active,
        smstools_error,
        bot,
        bot_error,
        bot_evidence,
        holders: scan.holders,
        holders_hidden: scan.hidden,
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
        None => format!(
            "error: {}",
            f.smstools_error.as_deref().unwrap_or("no answer")
        ),
    };
    out.push_str(&format!(
        "smstools:  {sms} ({})\n",
        config.handoff.describe()
    ));
    let how = match f.bot_evidence {
        BotEvidence::Systemd => format!("systemctl show {}", config.bot_unit),
        BotEvidence::Marker => "no systemd: from the restore markers".to_owned(),
    };
    match &f.bot_error {
        Some(e) => out.push_str(&format!("voice bot: error: {e} ({how})\n")),
        None => out.push_str(&format!("voice bot: {} ({how})\n", f.bot.name())),
    }
    if f.holders_hidden > 0 {
        let hs: Vec<&Holder> = f.holders.iter().collect();
        out.push_str(&format!(
            "holders:   unknown: {}; seen: {}\n",
            hidden_reason(f.holders_hidden),
            if hs.is_empty() {
                "none".to_owned()
            } else {
                list(&hs)
            }
        ));
    } else if f.holders.is_empty() {
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
            bot_error: None,
            bot_evidence: BotEvidence::Systemd,
            holders: Vec::new(),
            holders_hidden: 0,
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
    fn an_unknown_smstools_state_is_unknown_with_the_reason() {
        let mut f = facts(true, true, BotState::Inactive);
        f.smstools_active = None;
        f.smstools_error = Some("`systemctl show -- smstools` did not finish".into());
        let s = seed_state(&f);
        assert!(
            matches!(s, SeedState::Unknown(ref why) if why.contains("did not finish")),
            "{s:?}"
        );
        assert_eq!(s.exit_code(), EXIT_UNKNOWN);
    }

    #[test]
    fn a_failing_systemctl_for_the_bot_is_unknown_not_inactive() {
        let mut f = facts(true, true, BotState::Unknown);
        f.bot_error = Some("systemd has no unit sim7600-voice-bot".into());
        let s = seed_state(&f);
        assert!(
            matches!(s, SeedState::Unknown(ref why) if why.contains("has no unit")),
            "{s:?}"
        );
    }

    #[test]
    fn holders_hidden_from_this_user_make_the_state_unknown() {
        let mut f = facts(true, true, BotState::Inactive);
        f.holders_hidden = 40;
        let s = seed_state(&f);
        assert!(
            matches!(s, SeedState::Unknown(ref why) if why.contains("40 processes") && why.contains("as root")),
            "{s:?}"
        );
        assert_eq!(s.exit_code(), 2);
        assert_eq!(SeedState::Inconsistent(String::new()).exit_code(), 1);
        assert_eq!(SeedState::VoiceBotStopped.exit_code(), 0);
    }

    #[test]
    fn under_systemd_a_systemctl_that_fails_for_the_bot_is_shown_as_an_error() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let systemctl = dir.path().join("systemctl");
        // smstools is known and active; the bot's unit is asked of a bus that refuses.
        std::fs::write(
            &systemctl,
            "#!/bin/sh\ncase \"$5\" in\n smstools) echo LoadState=loaded; echo ActiveState=active ;;\n              *) echo 'Failed to connect to bus: Permission denied' >&2; exit 1 ;;\nesac\n",
        )
        .unwrap();
        std::fs::set_permissions(&systemctl, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = Config {
            marker_dir: dir.path().join("markers"),
            handoff: BackendSpec::Systemctl {
                unit: crate::handoff::UnitName::try_from("smstools".to_owned()).unwrap(),
                systemctl: systemctl.clone(),
            },
            ..Config::default()
        };
        let f = gather(&config, Some(&dir.path().join("ttyUSB2")), true);
        assert_eq!(f.smstools_active, Some(true), "{f:?}");
        assert_eq!(f.bot, BotState::Unknown);
        let e = f.bot_error.clone().unwrap();
        assert!(e.contains("Permission denied"), "{e}");
        let state = seed_state(&f);
        assert!(matches!(state, SeedState::Unknown(_)), "{state:?}");
        let text = render(&config, &f, &state);
        assert!(
            text.contains("voice bot: error: ") && text.contains("Permission denied"),
            "{text}"
        );
        assert!(!text.contains("voice bot: inactive"), "{text}");
    }

    #[test]
    fn systemctl_show_is_read_and_an_unknown_unit_is_an_error() {
        assert_eq!(
            active_state("smstools", "LoadState=loaded\nActiveState=active\n"),
            Ok("active".into())
        );
        assert_eq!(
            active_state("smstools", "ActiveState=failed\nLoadState=loaded\n"),
            Ok("failed".into())
        );
        let err =
            active_state("smstools", "LoadState=not-found\nActiveState=inactive\n").unwrap_err();
        assert!(err.contains("no unit smstools"), "{err}");
        assert!(active_state("smstools", "").is_err());
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
