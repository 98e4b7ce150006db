//! `sim7600 restore`: only the marker restore, for systemd's `ExecStopPost=` (which runs
//! even after the bot was SIGKILLed) and for people. For every marker whose owner is gone,
//! smstools is given back as the marker says and the marker removed; a marker whose owner
//! lives is left alone.
//!
//! The work itself (and why the spool is put in order first) is [`crate::handoff::restore`].

use std::path::Path;

use crate::app::config::Config;
use crate::handoff::HandoffError;
use crate::handoff::lease::MarkerOutcome;
use crate::handoff::restore::restore_markers;

/// Restores the stale markers of the configured marker folder, putting the smstools
/// spool in order first (`smstools_conf`: `--smstools-conf`, else `[bot] smstools_conf`;
/// nothing when `[bot] spool = false`).
pub fn run(
    config: &Config,
    smstools_conf: Option<&Path>,
) -> Result<Vec<MarkerOutcome>, HandoffError> {
    let conf = config.bot.served_smstools_conf(smstools_conf);
    restore_markers(
        &config.marker_dir,
        &config.timeouts.to_handoff(),
        conf.as_deref(),
    )
}

/// The outcomes for a person.
pub fn render(outcomes: &[MarkerOutcome]) -> String {
    if outcomes.is_empty() {
        return "no restore marker: nothing to restore\n".to_owned();
    }
    let mut out = String::new();
    for o in outcomes {
        match o {
            MarkerOutcome::Restored {
                port,
                owner_pid,
                smstools_restored,
                ..
            } => out.push_str(&format!(
                "{}: owner pid {owner_pid} is gone; {}\n",
                port.display(),
                if *smstools_restored {
                    "smstools given back and running"
                } else {
                    "smstools was not running before it, nothing to give back"
                }
            )),
            MarkerOutcome::OwnerAlive {
                port, owner_pid, ..
            } => out.push_str(&format!(
                "{}: owner pid {owner_pid} is alive; its marker is left alone\n",
                port.display()
            )),
        }
    }
    out
}
