//! `sim7600 restore`: only the marker restore, for systemd's `ExecStopPost=` (which runs
//! even after the bot was SIGKILLed) and for people. For every marker whose owner is gone,
//! smstools is given back as the marker says and the marker removed; a marker whose owner
//! lives is left alone.

//!
//! Before smstools gets a dead bot's port back, the smstools spool the bot served is put
//! in order (`SpoolBridge::recover_outgoing`): a file the bot had claimed from outgoing/
//! is back there unsent, or in sent/ if it went, never both (smsd would not see a claimed
//! file otherwise: it removes every `.LOCK` when it starts).

use std::path::Path;

use crate::config::Config;
use crate::handoff::lease::MarkerOutcome;
use crate::handoff::{HandoffError, restore_stale_markers_with};
use crate::spool::{SmsdConf, SpoolBridge};

/// Restores the stale markers of the configured marker folder, putting the smstools
/// spool in order first (`smstools_conf`: `--smstools-conf`, else `[bot] smstools_conf`;
/// nothing when `[bot] spool = false`).
pub fn run(
    config: &Config,
    smstools_conf: Option<&Path>,
) -> Result<Vec<MarkerOutcome>, HandoffError> {
    let conf = config
        .bot
        .spool
        .then(|| smstools_conf.map_or_else(|| config.bot.smstools_conf.clone(), Path::to_path_buf));
    restore_stale_markers_with(
        &config.marker_dir,
        &config.timeouts.to_handoff(),
        &mut |port| {
            if let Some(conf) = &conf {
                recover_spool(conf, port);
            }
        },
    )
}

/// Puts back what a dead bot left claimed in the spool of `conf`. Problems are logged:
/// smstools must get its port back whatever the spool's state (a claimed file stays
/// hidden, not lost, and the next bot's start recovers it).
fn recover_spool(conf: &Path, port: &Path) {
    if !conf.exists() {
        log::debug!(
            "{} does not exist: no spool to put in order",
            conf.display()
        );
        return;
    }
    let recovered = SmsdConf::load(conf).and_then(|c| SpoolBridge::recover_outgoing(&c));
    match recovered {
        Ok(files) if files.is_empty() => {
            log::info!("spool of {}: nothing left claimed", port.display());
        }
        Ok(files) => {
            for r in files {
                log::warn!("spool of {}: after the bot died: {r:?}", port.display());
            }
        }
        Err(e) => log::error!(
            "spool ({}): {e}; files the bot had claimed stay hidden until the next bot starts",
            conf.display()
        ),
    }
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
