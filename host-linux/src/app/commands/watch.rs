//! `sim7600 watch-smstools`: while no bot holds the port, smsd (the one running with `[bot]
//! smstools_conf`, default /etc/smsd.conf) is watched for a port that
//! vanished under it (after a USB re-enumeration the kernel removed its tty and smsd,
//! which never reopens by itself, keeps writing into the deleted node). Such an smsd gets
//! smstools restarted through the configured handoff backend (systemctl: a restart of
//! the unit; commands: stop then start; suspend-file: its device suspended then resumed,
//! which makes smsd close and reopen the port). While a bot holds the port (a restore
//! marker of a live owner), the bot's own supervisor is in charge and nothing is done.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::app::config::Config;
use crate::fleet::smsd_watch::{self, StaleHolder};
use crate::handoff::marker::{Marker, markers_in};
use crate::handoff::{Backend, HandoffError, OwnerVerdict};
use crate::platform::holders::PROC_ROOT;
use crate::platform::signals::Signals;

/// smsd's command name, as `/proc/PID/comm` has it.
pub const SMSD_COMMAND: &str = "smsd";
/// How often the watcher looks, unless told.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// What one look found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum WatchOutcome {
    /// smsd holds no vanished port.
    Healthy,
    /// A bot holds the port: its supervisor is in charge.
    BotRuns {
        /// The marker of the live bot.
        marker: PathBuf,
    },
    /// smsd held a vanished port; smstools was restarted.
    Restarted {
        /// The smsd processes and what they held.
        stale: Vec<StaleHolder>,
    },
    /// smsd held a vanished port; the restart failed.
    RestartFailed {
        /// The smsd processes and what they held.
        stale: Vec<StaleHolder>,
        /// Why.
        error: String,
    },
}

/// A live bot's marker in `marker_dir`, if any.
fn live_bot(marker_dir: &Path) -> Result<Option<PathBuf>, HandoffError> {
    for path in markers_in(marker_dir)? {
        if let Some(m) = Marker::read(&path)?
            && m.owner_now() == OwnerVerdict::Alive
        {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

/// One look at `proc_root`: see the module documentation.
pub fn check_once(config: &Config, proc_root: &Path) -> WatchOutcome {
    match live_bot(&config.marker_dir) {
        Ok(Some(marker)) => return WatchOutcome::BotRuns { marker },
        Ok(None) => {}
        Err(e) => log::warn!("{e}: looking at smsd all the same"),
    }
    let stale = smsd_watch::stale_holders(proc_root, SMSD_COMMAND, &config.bot.smstools_conf);
    if stale.is_empty() {
        return WatchOutcome::Healthy;
    }
    for h in &stale {
        let nodes: Vec<String> = h.vanished.iter().map(|p| p.display().to_string()).collect();
        log::warn!(
            "smsd (pid {}) holds a port that vanished: {}; restarting smstools ({})",
            h.pid,
            nodes.join(", "),
            config.handoff.describe()
        );
    }
    let backend = Backend::new(config.handoff.clone(), config.timeouts.to_handoff().command);
    let restarted = backend
        .stop(std::process::id())
        .and_then(|stopped| backend.start(&stopped));
    match restarted {
        Ok(()) => {
            log::info!("smstools restarted: it opens the port anew");
            WatchOutcome::Restarted { stale }
        }
        Err(e) => {
            log::error!("restarting smstools failed: {e}");
            WatchOutcome::RestartFailed {
                stale,
                error: e.to_string(),
            }
        }
    }
}

/// Looks every `interval` until a shutdown signal (or once), reporting each outcome other
/// than [`WatchOutcome::Healthy`] through `report`.
pub fn run(
    config: &Config,
    interval: Duration,
    once: bool,
    shutdown: &Signals,
    report: &mut dyn FnMut(&WatchOutcome),
) -> WatchOutcome {
    loop {
        let outcome = check_once(config, Path::new(PROC_ROOT));
        if once {
            report(&outcome);
            return outcome;
        }
        if outcome != WatchOutcome::Healthy {
            report(&outcome);
        }
        if let Some(signal) = shutdown.wait_timeout(interval) {
            log::info!("{signal}: the watch ends");
            return outcome;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_healthy_smsd_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            marker_dir: dir.path().join("markers"),
            ..Config::default()
        };
        // An empty proc: no smsd at all.
        std::fs::create_dir_all(dir.path().join("proc")).unwrap();
        assert_eq!(
            check_once(&config, &dir.path().join("proc")),
            WatchOutcome::Healthy
        );
    }
}
