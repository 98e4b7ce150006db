//! The bot's SMS work, one step per turn of its loop: reading the SIM for smstools' spool,
//! giving up unfinished long messages, and sending, one part at a time, from the spool's
//! outgoing/ folder and the API's queue in turns.
//!
//! Every step is one or two AT commands, so a `RING`, a request (hang up, shut down) or a
//! call's deadline that comes meanwhile is handled before the next step: a message of many
//! parts stays [`InFlight`] between two turns, across a reconnect too, and is finished
//! (or put back) when the bot stops.

use std::time::{Duration, Instant, SystemTime};

use modem_core::command::sms::types::MessageStatus;
use modem_core::driver::{ErrorKind, SendFailure as Failure};
use modem_core::sim_slots::SlotRead;

use super::Bot;
use crate::bot::core::{Source, SpoolGate};
use crate::platform::link::Link;
use crate::platform::metrics::{SmsPath, SmsResult};
use crate::spool::queue::{Claim, ClaimedSms, SmsQueue};
use crate::spool::sms::{self, Next};
use crate::spool::{SpoolBridge, SpoolError, SpoolJob};

/// A message with parts still to send.
#[derive(Debug)]
pub(super) enum InFlight {
    /// A file of smstools' spool (claimed, its parts encoded).
    Spool(SpoolJob),
    /// A message of the API's queue.
    Queue(ClaimedSms),
}

/// What a look for the next message found.
enum Picked {
    /// A message to send, claimed.
    Message(Box<InFlight>),
    /// Nothing to send before then.
    LookAgainAt(Instant),
}

impl Bot<'_> {
    /// After an init: the SIM's identity for the spool's files (`AT+CIMI`) and a scan of
    /// the storage for messages that arrived while nobody read them (`AT+CPMS?`).
    pub(super) async fn spool_start(&mut self, link: &mut Link<'_>) {
        self.core.sim_scan_started();
        if self.spool.is_none() {
            return;
        }
        let imsi = match link.modem.imsi().await {
            Ok(r) => Some(r.digits.to_string()),
            Err(e) => {
                log::warn!("{e}: incoming files get no IMSI: line");
                None
            }
        };
        let storage = link.modem.storage().await;
        let imei = self.state.snapshot().identity.and_then(|i| i.imei);
        if let Some(bridge) = self.spool.as_mut() {
            bridge.set_identity(imsi, imei);
        }
        match storage {
            Ok(s) => {
                log::info!(
                    "SIM storage {}: {} of {} slots used",
                    s.read.storage,
                    s.read.used,
                    s.read.total
                );
                self.slots.start_scan(&s.read);
            }
            // Nothing is lost: what is stored stays for smsd, and +CMTI still announces
            // what arrives.
            Err(e) => {
                log::warn!("{e}: messages stored before now are left for smstools")
            }
        }
    }

    /// When unfinished long messages are next given up.
    pub(super) fn parts_expiry(&self) -> Option<Instant> {
        self.spool.as_ref().and_then(SpoolBridge::next_expiry)
    }

    /// Gives up unfinished long messages that expired (their parts are deleted from the
    /// SIM).
    pub(super) async fn expire_parts(&mut self, link: &mut Link<'_>) {
        let delete = self
            .spool
            .as_mut()
            .map(SpoolBridge::expire)
            .unwrap_or_default();
        self.delete_slots(link, &delete).await;
    }

    /// Reads the next SIM slot the spool waits for and delivers what it holds.
    pub(super) async fn read_next_slot(&mut self, link: &mut Link<'_>) {
        let Some(index) = self.slots.next_slot() else {
            return;
        };
        let found = match link.modem.read_sms(index).await {
            Ok(Some(stored)) => {
                let received = matches!(
                    stored.status,
                    MessageStatus::ReceivedUnread | MessageStatus::ReceivedRead
                );
                if received {
                    let delete = match self.spool.as_mut() {
                        Some(bridge) => bridge.receive(
                            index,
                            stored.pdu_hex.as_str(),
                            usize::from(stored.tpdu_len),
                        ),
                        None => Vec::new(),
                    };
                    self.delete_slots(link, &delete).await;
                }
                SlotRead::Message
            }
            Ok(None) => SlotRead::Empty,
            Err(e) if matches!(e.kind, ErrorKind::Timeout) => {
                // A silent modem: the health check decides about it, not a scan that
                // would wait out every slot. What is stored waits for the next scan.
                log::warn!("SIM slot {index}: {e}; the SIM is read again once the modem answers");
                self.slots.clear();
                self.core.owe_sim_rescan();
                return;
            }
            Err(e) => {
                log::debug!("SIM slot {index}: {e}");
                SlotRead::Failed
            }
        };
        self.slots.read(index, found);
    }

    /// Deletes SIM slots whose messages are in incoming/ (one that cannot be deleted now is
    /// tried again, see [`Self::retry_undeleted`]), and publishes what was delivered.
    async fn delete_slots(&mut self, link: &mut Link<'_>, slots: &[u16]) {
        for &index in slots {
            if let Err(e) = link.modem.delete_sms(index).await {
                // Still on the SIM: the ledger keeps the bot from delivering it twice, and
                // it is deleted before smsd gets the port back.
                log::warn!("deleting SIM slot {index} after its delivery: {e}; trying again later");
                if !self.undeleted.contains(&index) {
                    self.undeleted.push(index);
                }
            }
        }
        self.publish_delivered();
    }

    /// Publishes what the spool wrote into incoming/ since the last call (`sms_received`
    /// events and the count in `GET /status`).
    pub(super) fn publish_delivered(&mut self) {
        let delivered = self
            .spool
            .as_mut()
            .map(SpoolBridge::take_delivered)
            .unwrap_or_default();
        for sms in delivered {
            self.state
                .events()
                .sms_received(&sms.from, &sms.text, &sms.time);
            self.state
                .update(|s| s.sms_received = s.sms_received.saturating_add(1));
            self.state
                .metrics()
                .sms(SmsResult::Received, SmsPath::Spool);
        }
    }

    /// Deletes the slots of delivered messages whose `AT+CMGD` failed: after a health
    /// check the modem answered, and before the port goes back to smsd (which would
    /// deliver them a second time).
    pub(super) async fn retry_undeleted(&mut self, link: &mut Link<'_>) {
        for index in std::mem::take(&mut self.undeleted) {
            match link.modem.delete_sms(index).await {
                Ok(()) => log::info!("SIM slot {index} deleted after its delivery"),
                Err(e) => {
                    log::warn!("deleting SIM slot {index} after its delivery: {e}");
                    self.undeleted.push(index);
                }
            }
        }
    }

    /// Sends the next part due: of the message in flight, or of the next message, from the
    /// spool or from the API's queue (taking turns while both have one: the core's
    /// [`BotCore::sms_sources`]). Returns when to look again.
    ///
    /// [`BotCore::sms_sources`]: crate::bot::core::BotCore::sms_sources
    pub(super) async fn send_next_sms(&mut self, link: &mut Link<'_>) -> Instant {
        if let Some(message) = self.in_flight.take() {
            self.send_part(link, message).await;
            return Instant::now();
        }
        let scan = self.core.schedule().queue_scan;
        let mut look_again = Instant::now() + scan;
        for source in self.core.sms_sources() {
            let picked = match source {
                Source::Spool => self.claim_spool_file(scan),
                Source::Queue => self.claim_queued(scan),
            };
            match picked {
                Picked::Message(message) => {
                    self.send_part(link, *message).await;
                    return Instant::now();
                }
                Picked::LookAgainAt(t) => look_again = look_again.min(t),
            }
        }
        look_again
    }

    /// Claims the next file of smstools' outgoing/ (or checked/) folder, unless the spool
    /// rests after a failure.
    fn claim_spool_file(&mut self, scan: Duration) -> Picked {
        let now = Instant::now();
        let later = now + scan;
        let rescan = match self.core.spool_gate(now) {
            SpoolGate::Resting(t) => return Picked::LookAgainAt(t),
            SpoolGate::Open { rescan } => rescan,
        };
        let Some(bridge) = self.spool.as_mut() else {
            return Picked::LookAgainAt(later);
        };
        if rescan {
            // A safety net for a lost inotify event (or no watcher at all).
            bridge
                .dirty_flag()
                .store(true, std::sync::atomic::Ordering::Release);
        }
        match bridge.next_job() {
            Ok(Some(mut job)) => match job.begin() {
                Ok(()) => Picked::Message(Box::new(InFlight::Spool(job))),
                Err(e) => {
                    log::error!("spool: {}: {e}", job.name());
                    if let Err(e) = self.spool_back(job, None) {
                        log::error!("spool: {e}");
                    }
                    self.core.rest_spool(later);
                    Picked::LookAgainAt(later)
                }
            },
            Ok(None) => Picked::LookAgainAt(later),
            Err(e) => {
                log::error!("spool: {e}");
                self.core.rest_spool(later);
                Picked::LookAgainAt(later)
            }
        }
    }

    /// Claims the next message of the API's queue that is due.
    fn claim_queued(&self, scan: Duration) -> Picked {
        let later = Instant::now() + scan;
        let Some(queue) = self.queue else {
            return Picked::LookAgainAt(later);
        };
        match queue.claim_next(SystemTime::now()) {
            Ok(Claim::Ready(claim)) => Picked::Message(Box::new(InFlight::Queue(claim))),
            Ok(Claim::NextAt(at)) => {
                let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
                Picked::LookAgainAt(Instant::now() + wait.min(scan))
            }
            Ok(Claim::Empty) => Picked::LookAgainAt(later),
            Err(e) => {
                log::error!("SMS queue: {e}");
                Picked::LookAgainAt(later)
            }
        }
    }

    /// Sends the next part of `message`; what is left of it stays in flight.
    async fn send_part(&mut self, link: &mut Link<'_>, message: InFlight) {
        match message {
            InFlight::Spool(job) => self.send_spool_part(link, job).await,
            InFlight::Queue(claim) => self.send_queue_part(link, claim).await,
        }
    }

    /// Shutdown: nothing half done for smsd. The message in flight gets its last parts,
    /// delivered SMS still on the SIM are deleted. A call in progress is left to the modem.
    pub(super) async fn finish(&mut self, link: &mut Link<'_>) {
        if let Some(call) = self.tracker.current() {
            // Closing the port does not end a call: the modem keeps it, and no end will be
            // seen to log.
            log::warn!(
                "shutting down during a {} call from {}: the modem keeps it; it is not in the \
                 call log",
                match call.state {
                    crate::bot::CurrentCallState::Ringing => "ringing",
                    crate::bot::CurrentCallState::Active => "connected",
                    crate::bot::CurrentCallState::Dialing => "dialled",
                    crate::bot::CurrentCallState::Alerting => "dialled, ringing",
                },
                call.caller.as_deref().unwrap_or("(unknown)")
            );
        }
        self.finish_in_flight(link).await;
        self.retry_undeleted(link).await;
    }

    /// Sends the rest of the message in flight (the bot stops: one message's parts at the
    /// most, so that none is left half sent), unless the port fails.
    async fn finish_in_flight(&mut self, link: &mut Link<'_>) {
        while link.failure().is_none() {
            let Some(message) = self.in_flight.take() else {
                return;
            };
            self.send_part(link, message).await;
        }
    }

    /// The bot ends with a message in flight (the port failed for good): a spool file goes
    /// back to its folder (its parts are sent again later: at least once), a queued
    /// message back to the queue (the parts sent stay sent).
    pub(super) fn put_back_in_flight(&mut self) {
        match self.in_flight.take() {
            Some(InFlight::Spool(job)) => {
                if let Err(e) = self.spool_back(job, None) {
                    log::error!("spool: {e}");
                }
            }
            Some(InFlight::Queue(claim)) => {
                let id = claim.record().id.clone();
                if let Some(queue) = self.queue {
                    if let Err(e) = queue.unclaim(claim) {
                        log::error!("SMS {id}: {e}");
                    }
                }
            }
            None => {}
        }
    }

    /// One part of a spool file; the file goes to sent/ after its last part.
    async fn send_spool_part(&mut self, link: &mut Link<'_>, mut job: SpoolJob) {
        let (sent, total) = job.progress();
        let Some(part) = job.next_part() else {
            self.spool_sent(job);
            return;
        };
        let result = link.modem.send_sms_part(part).await;
        let name = job.name().to_owned();
        match result {
            Ok(reference) => {
                job.part_sent(reference);
                log::info!(
                    "spool: {name}: part {}/{total} sent (reference {reference})",
                    sent + 1
                );
                if job.is_done() {
                    self.spool_sent(job);
                } else {
                    self.in_flight = Some(InFlight::Spool(job));
                }
            }
            Err(error) => {
                let text = if total > 1 {
                    format!("part {} of {total}: {error}", sent + 1)
                } else {
                    error.to_string()
                };
                let outcome = match error.send_failure() {
                    Failure::Permanent => self.spool_failed(job, &text),
                    _ if link.failure().is_some() => {
                        // Not the file's fault: its next part goes out on the next port
                        // (this one again, if it may have gone: at least once).
                        log::warn!("spool: {name}: {text}; going on after the reconnect");
                        self.in_flight = Some(InFlight::Spool(job));
                        Ok(())
                    }
                    // Definite, or a part that may have gone (the spool promises at least
                    // once): the file is tried again later, all its parts, then failed/.
                    Failure::Definite | Failure::Unknown => self.spool_back(job, Some(&text)),
                };
                if let Err(e) = outcome {
                    log::error!("spool: {name}: {e}");
                }
            }
        }
    }

    fn spool_sent(&mut self, job: SpoolJob) {
        let Some(bridge) = self.spool.as_mut() else {
            return;
        };
        let to = job.recipient();
        let name = job.name().to_owned();
        match bridge.sent(job) {
            Ok(moved) => {
                log::info!(
                    "spool: {name} to {to} sent{}",
                    moved
                        .map(|p| format!(", moved to {}", p.display()))
                        .unwrap_or_default()
                );
                self.state
                    .update(|s| s.sms_sent = s.sms_sent.saturating_add(1));
                self.state.metrics().sms(SmsResult::Sent, SmsPath::Spool);
            }
            Err(e) => log::error!("spool: {name} was sent, but: {e}"),
        }
    }

    fn spool_failed(&mut self, job: SpoolJob, reason: &str) -> Result<(), SpoolError> {
        let Some(bridge) = self.spool.as_mut() else {
            return Ok(());
        };
        log::error!("spool: {} failed: {reason}", job.name());
        bridge.failed(job, reason)?;
        self.state
            .update(|s| s.sms_failed = s.sms_failed.saturating_add(1));
        self.state.metrics().sms(SmsResult::Failed, SmsPath::Spool);
        Ok(())
    }

    /// A file goes back to its folder: untouched (`why` = `None`), or after a failure that
    /// may pass, counted against its tries, and the spool rests for the first retry pause.
    fn spool_back(&mut self, job: SpoolJob, why: Option<&str>) -> Result<(), SpoolError> {
        let Some(bridge) = self.spool.as_mut() else {
            return Ok(());
        };
        let name = job.name().to_owned();
        let Some(why) = why else {
            bridge.put_back(job)?;
            log::info!("spool: {name} put back for later");
            return Ok(());
        };
        let pause = Duration::from_secs(self.options.settings.sms_retry_initial_s);
        let back = bridge.retry_later(job, why)?;
        let conf = bridge.conf();
        let queued_again = back
            .as_deref()
            .and_then(std::path::Path::parent)
            .is_some_and(|dir| dir == conf.outgoing.as_path() || dir == conf.checked.as_path());
        if queued_again {
            log::warn!("spool: {name}: {why}; tried again in {} s", pause.as_secs());
        } else {
            log::error!("spool: {name} failed: {why}");
            self.state
                .update(|s| s.sms_failed = s.sms_failed.saturating_add(1));
            self.state.metrics().sms(SmsResult::Failed, SmsPath::Spool);
        }
        self.core.rest_spool(Instant::now() + pause);
        Ok(())
    }

    /// One part of a message of the API's queue, recorded before and after `AT+CMGS`; the
    /// message is `sent` after its last part.
    async fn send_queue_part(&mut self, link: &mut Link<'_>, mut claim: ClaimedSms) {
        let Some(queue) = self.queue else {
            return;
        };
        let id = claim.record().id.clone();
        let Some(index) = claim.next_part() else {
            self.queue_sent(claim);
            return;
        };
        let part = match claim.encode_part(index) {
            Ok(p) => p,
            Err(e) => {
                self.give_up(claim, &format!("cannot encode part {}: {e}", index + 1));
                return;
            }
        };
        if let Err(e) = queue.begin_part(&mut claim, index) {
            log::error!("SMS {id}: {e}");
            if let Err(e) = queue.unclaim(claim) {
                log::error!("SMS {id}: {e}");
            }
            return;
        }
        let error = match link.modem.send_sms_part(&part).await {
            Ok(reference) => {
                if let Err(e) = queue.part_sent(&mut claim, index, reference) {
                    // The part left; the record cannot say so. Failing it keeps the
                    // promise that nothing is sent twice.
                    log::error!("SMS {id}: {e}");
                    self.give_up(claim, &format!("recording part {} failed: {e}", index + 1));
                    return;
                }
                log::info!(
                    "SMS {id}: part {}/{} sent (reference {reference})",
                    index + 1,
                    claim.record().parts
                );
                if claim.next_part().is_none() {
                    self.queue_sent(claim);
                } else {
                    self.in_flight = Some(InFlight::Queue(claim));
                }
                return;
            }
            Err(error) => error,
        };
        let port_failed = link.failure().is_some();
        self.queue_part_failed(queue, claim, index, error, port_failed);
    }

    /// A part of a queued message was refused or not answered (`port_failed`: the port
    /// failed meanwhile): the message is given up, or due again (at once on the next port,
    /// or after its retry pause).
    fn queue_part_failed(
        &self,
        queue: &SmsQueue,
        claim: ClaimedSms,
        index: u8,
        error: modem_core::driver::Error,
        port_failed: bool,
    ) {
        let id = claim.record().id.clone();
        let text = format!("part {}: {error}", index + 1);
        let settings = &self.options.settings;
        match error.send_failure() {
            Failure::Unknown => self.give_up(
                claim,
                &format!("{text}; the part may have been sent, so it is not sent again"),
            ),
            Failure::Permanent => self.give_up(claim, &text),
            Failure::Definite if port_failed => {
                // Not the message's fault: due again at once, on the next port.
                if let Err(e) = queue.retry_later(claim, &text, SystemTime::now()) {
                    log::error!("SMS {id}: {e}");
                }
            }
            Failure::Definite => {
                let attempts = claim.record().attempts;
                match sms::retry_delay(
                    attempts,
                    settings.sms_max_attempts,
                    Duration::from_secs(settings.sms_retry_initial_s),
                    Duration::from_secs(settings.sms_retry_max_s),
                ) {
                    Next::RetryAfter(d) => {
                        log::warn!("SMS {id}: {text}; retry in {} s", d.as_secs());
                        if let Err(e) = queue.retry_later(claim, &text, SystemTime::now() + d) {
                            log::error!("SMS {id}: {e}");
                        }
                    }
                    Next::GiveUp => {
                        self.give_up(claim, &format!("{text} (after {attempts} attempts)"));
                    }
                }
            }
        }
    }

    fn queue_sent(&self, claim: ClaimedSms) {
        let Some(queue) = self.queue else {
            return;
        };
        let id = claim.record().id.clone();
        match queue.mark_sent(claim) {
            Ok(record) => {
                log::info!(
                    "SMS {id} to {} sent: references {:?}",
                    record.to,
                    record.message_references
                );
                self.state
                    .update(|s| s.sms_sent = s.sms_sent.saturating_add(1));
                self.state.metrics().sms(SmsResult::Sent, SmsPath::Api);
                self.state.events().publish(
                    None,
                    crate::events::EventKind::SmsSent {
                        sms_id: id.as_str().to_owned(),
                        to: record.to.clone(),
                        parts: record.message_references.len(),
                    },
                );
            }
            Err(e) => log::error!("SMS {id}: {e}"),
        }
    }

    fn give_up(&self, claim: ClaimedSms, error: &str) {
        let Some(queue) = self.queue else {
            return;
        };
        let id = claim.record().id.clone();
        log::error!("SMS {id} failed: {error}");
        let to = claim.record().to.clone();
        if let Err(e) = queue.mark_failed(claim, error) {
            log::error!("SMS {id}: {e}");
        }
        self.state.events().publish(
            None,
            crate::events::EventKind::SmsFailed {
                sms_id: id.as_str().to_owned(),
                to,
                error: error.to_owned(),
            },
        );
        self.state
            .update(|s| s.sms_failed = s.sms_failed.saturating_add(1));
        self.state.metrics().sms(SmsResult::Failed, SmsPath::Api);
    }
}
