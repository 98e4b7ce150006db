//! Giving smstools its ports back after a bot that died: for every restore marker whose
//! owner is gone, smstools is given back as the marker says and the marker removed; a
//! marker whose owner lives is left alone. `sim7600 restore` (systemd's `ExecStopPost=`)
//! and the voice bot before it takes a port both run this.
//!
//! Before smstools gets a dead bot's port back, the smstools spool the bot served is put
//! in order: a file the bot had claimed from outgoing/ is back there unsent, or in sent/
//! if it went, never both (smsd would not see a claimed file otherwise: it removes every
//! `.LOCK` when it starts); and a received SMS the bot had written into incoming/ but not
//! yet deleted from the SIM when it died is deleted now, so that smsd does not deliver it
//! a second time (the bot's delivery ledger knows it; smsd does not).

use std::path::Path;
use std::time::{Duration, Instant};

use modem_core::driver::ErrorKind;
use modem_core::sim_slots::{SimSlots, SlotRead};

use crate::handoff::lease::MarkerOutcome;
use crate::handoff::{HandoffError, HandoffTimeouts, restore_stale_markers_with};
use crate::platform::link;
use crate::spool::SpoolBridge;

/// Restores every marker in `marker_dir` whose owner is gone, putting the spool of
/// `smstools_conf` (if any) in order before smstools gets each port back. The voice bot
/// runs this too before it takes the port, for a predecessor that died without a
/// `sim7600 restore` after it.
pub fn restore_markers(
    marker_dir: &Path,
    timeouts: &HandoffTimeouts,
    smstools_conf: Option<&Path>,
) -> Result<Vec<MarkerOutcome>, HandoffError> {
    restore_stale_markers_with(marker_dir, timeouts, &mut |port| {
        if let Some(conf) = smstools_conf {
            recover_spool(conf, port);
        }
    })
}

/// Puts the spool of `conf` in order after the bot on `port` died (see the module docs).
/// Problems are logged: smstools must get its port back whatever the spool's state (a
/// claimed file stays hidden, not lost, until the next bot starts; a message left on the
/// SIM is at worst delivered twice).
fn recover_spool(conf: &Path, port: &Path) {
    if !conf.exists() {
        log::debug!(
            "{} does not exist: no spool to put in order",
            conf.display()
        );
        return;
    }
    // Opening the spool recovers what a crash left in outgoing/, checked/ and incoming/.
    let bridge = match SpoolBridge::open(conf, port, None) {
        Ok(b) => b,
        Err(e) => {
            log::error!(
                "spool ({}): {e}; files the bot had claimed stay hidden until the next bot \
                 starts",
                conf.display()
            );
            return;
        }
    };
    match delete_delivered_from_sim(&bridge, port) {
        Ok(0) => log::info!("{}: no delivered SMS left on the SIM", port.display()),
        Ok(n) => log::warn!(
            "{}: {n} SMS the bot had delivered to incoming/ but not yet deleted from the SIM \
             deleted now",
            port.display()
        ),
        Err(e) => log::error!(
            "{}: cannot look at the SIM ({e}); an SMS the bot delivered just before it died \
             may be delivered again by smsd",
            port.display()
        ),
    }
}

/// How long restore may spend on the SIM before it gives smstools the port back anyway
/// (systemd gives `ExecStopPost=` 90 s by default).
pub const SIM_CLEANUP_LIMIT: Duration = Duration::from_secs(20);

/// Reads the SIM (`AT+CPMS?`, `AT+CMGR` slot by slot) and deletes every message the
/// delivery ledger knows; returns how many. A modem that does not answer ends it at once,
/// and it stops after [`SIM_CLEANUP_LIMIT`] in any case.
fn delete_delivered_from_sim(bridge: &SpoolBridge, port: &Path) -> Result<usize, String> {
    let tty = link::open_exclusive(port).map_err(|e| e.to_string())?;
    let outcome = link::with_link(&tty, port, |link| {
        futures::executor::block_on(async {
            // A bot killed in the middle of sending may have left the modem waiting for a
            // message body: `attention` gets it back to commands first.
            link.modem.attention().await.map_err(|e| e.to_string())?;
            let storage = link.modem.storage().await.map_err(|e| e.to_string())?;
            let mut slots = SimSlots::new();
            slots.start_scan(&storage.read);
            let mut deleted = 0;
            let started = Instant::now();
            while let Some(index) = slots.next_slot() {
                if started.elapsed() > SIM_CLEANUP_LIMIT {
                    return Err(format!(
                        "reading the SIM took longer than {} s; stopped at slot {index}",
                        SIM_CLEANUP_LIMIT.as_secs()
                    ));
                }
                let found = match link.modem.read_sms(index).await {
                    Ok(Some(stored)) => {
                        let known = bridge.already_delivered(
                            stored.pdu_hex.as_str(),
                            usize::from(stored.tpdu_len),
                        );
                        if let Some(file) = known {
                            link.modem
                                .delete_sms(index)
                                .await
                                .map_err(|e| format!("deleting slot {index}: {e}"))?;
                            log::warn!("SIM slot {index}: delivered before as {file}; deleted");
                            deleted += 1;
                        }
                        SlotRead::Message
                    }
                    Ok(None) => SlotRead::Empty,
                    Err(e) => {
                        if let Some(failure) = link.failure() {
                            return Err(failure.to_string());
                        }
                        if matches!(e.kind, ErrorKind::Timeout) {
                            return Err(format!("SIM slot {index}: {e}"));
                        }
                        log::debug!("SIM slot {index}: {e}");
                        SlotRead::Failed
                    }
                };
                slots.read(index, found);
            }
            Ok(deleted)
        })
    });
    outcome.map_err(|e| e.to_string())?
}
