//! The spool as the bot's single port writer uses it: one value that holds smsd.conf's
//! answers, the inbox, the outbox, the SIM reader and the outgoing watcher, and turns
//! them into a few calls around the modem I/O the writer does itself.
//!
//! This module owns [`SpoolBridge`] and [`SpoolJob`]. The writer:
//!
//! ```text
//! open ─▶ for every stored slot at start and every +CMTI: read the slot (AT+CMGR),
//!         bridge.receive(index, pdu, len) -> slots to delete (AT+CMGD each)
//!       ─▶ at bridge.next_expiry(): bridge.expire() -> slots to delete
//!       ─▶ when woken (the watch thread calls back) or at start:
//!          while let Some(job) = bridge.next_job()? {
//!              job.begin()?;  for part in job.parts() { AT+CMGS -> job.part_sent(ref) }
//!              bridge.sent(job) | bridge.failed(job, reason) | bridge.retry_later(job, why)
//!          }
//!       ─▶ on every +CDS: bridge.routed_report(pdu)
//!       ─▶ on giving the port back: bridge.release_port()
//! ```
//!
//! Every file it writes into incoming/ (a message, a status report) or moves into sent/
//! or failed/ gets smsd's eventhandler call (`super::eventhandler`), queued here and run
//! off the writer's loop; dropping the bridge runs what is still queued, within a bound.
//!
//! Nothing here touches the port, so every path has a test without one.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::platform::shutdown::{Shutdown, Woken};
use modem_core::pdu::{
    DEFAULT_EXPIRY_S, DecodeError, EncodedPart, Incoming, StatusReport, SubmitOptions, SubmitPlan,
};
use modem_core::urc::RoutedPdu;

use super::SpoolError;
use super::conf::SmsdConf;
use super::eventhandler::{
    DRAIN_TIMEOUT, EventRunner, HANDLER_TIMEOUT, HandlerCall, RunAs, SMSTOOLS_DEFAULTS, SpoolEvent,
};
use super::incoming::{Delivery, Inbox, ModemIdentity, ReceivedSms, SpoolTime, part_key};
use super::outbox::{Claim, Outbox, Recovered};
use super::outgoing::{OutgoingAlphabet, SendOutcome};
use super::receive::SimReader;
use super::report::{explain_status, render_report, report_key};
use super::watch::SpoolWatcher;

/// Tries at one file whose parts the modem refused for a reason that may pass (smsd's
/// `send_retries` default is 2 retries, so 3 tries) before it goes to failed/.
pub const SEND_TRIES: u32 = 3;
/// The most parts a spool file may take: smsd's text limit (39,016 characters) fits.
pub const MAX_SPOOL_PARTS: u8 = 255;

/// One file being sent: its claim and its parts, encoded before anything is sent.
#[derive(Debug)]
pub struct SpoolJob {
    claim: Claim,
    parts: Vec<EncodedPart>,
    refs: Vec<u8>,
    started: Instant,
}

impl SpoolJob {
    /// The file's name.
    pub fn name(&self) -> &str {
        self.claim.name()
    }

    /// The recipient as a person writes it.
    pub fn recipient(&self) -> String {
        self.claim
            .message()
            .map(|m| m.to.display())
            .unwrap_or_default()
    }

    /// Marks the file as being sent (durably) before the first part goes to the modem.
    pub fn begin(&mut self) -> Result<(), SpoolError> {
        self.claim.begin_sending()
    }

    /// The parts still to send, in order.
    pub fn parts(&self) -> &[EncodedPart] {
        self.parts.get(self.refs.len()..).unwrap_or(&[])
    }

    /// The next part to send, `None` when all went.
    pub fn next_part(&self) -> Option<&EncodedPart> {
        self.parts.get(self.refs.len())
    }

    /// The modem took the next part with this message reference.
    pub fn part_sent(&mut self, reference: u8) {
        self.refs.push(reference);
    }

    /// Parts sent so far, and the file's parts in all.
    pub fn progress(&self) -> (usize, usize) {
        (self.refs.len(), self.parts.len())
    }

    /// Whether every part went.
    pub fn is_done(&self) -> bool {
        self.refs.len() >= self.parts.len()
    }
}

/// A message the bridge just wrote into incoming/, for the bot's `sms_received` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredSms {
    /// The sender as a person writes it (`+491761234567`, or a name such as `Vodafone`).
    pub from: String,
    /// The text; 8-bit data as `[N bytes of data]`.
    pub text: String,
    /// The service centre's time stamp, RFC 3339 with its offset
    /// (`2026-11-24T07:04:58+01:00`).
    pub time: String,
    /// The file it is in.
    pub file: PathBuf,
}

/// The spool, for the bot; see the module docs.
#[derive(Debug)]
pub struct SpoolBridge {
    conf: SmsdConf,
    inbox: Inbox,
    outbox: Outbox,
    reader: SimReader,
    clock: Instant,
    dirty: Arc<AtomicBool>,
    backlog: Vec<PathBuf>,
    tries: HashMap<String, u32>,
    next_reference: u8,
    delivered: Vec<DeliveredSms>,
    events: Option<Events>,
}

/// The eventhandler of the bot's modem and its runner.
#[derive(Debug)]
struct Events {
    /// The modem's own eventhandler, else the global one: RECEIVED, REPORT, SENT, FAILED.
    handler: Option<String>,
    /// The global one: smsd's main process runs only this for a file it refuses.
    global: Option<String>,
    /// `messageids` of the modem.
    messageids: u8,
    runner: EventRunner,
}

impl Events {
    fn run(&self, event: SpoolEvent, file: PathBuf, refs: &[u8], delete_after: Option<PathBuf>) {
        let Some(handler) = &self.handler else {
            remove_unfiled(delete_after);
            return;
        };
        self.runner.submit(HandlerCall {
            handler: handler.clone(),
            event,
            file,
            extra: message_ids(self.messageids, refs),
            delete_after,
        });
    }

    fn refused(&self, file: PathBuf, delete_after: Option<PathBuf>) {
        let Some(handler) = &self.global else {
            remove_unfiled(delete_after);
            return;
        };
        self.runner.submit(HandlerCall {
            handler: handler.clone(),
            event: SpoolEvent::Failed,
            file,
            extra: Vec::new(),
            delete_after,
        });
    }
}

/// The `Message_id:` a sent file records (only when a report was asked for).
fn recorded_message_id(path: &Path) -> Option<u8> {
    let bytes = std::fs::read(path).ok()?;
    let head = bytes
        .split(|&b| b == b'\n')
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(b"Message_id: "))?;
    std::str::from_utf8(head).ok()?.trim().parse().ok()
}

fn remove_unfiled(path: Option<PathBuf>) {
    if let Some(path) = path {
        if let Err(e) = std::fs::remove_file(&path) {
            log::error!("spool: cannot delete {}: {e}", path.display());
        }
    }
}

/// smsd's third argument of SENT and FAILED from the parts' references: `messageids = 1`
/// the first, `2` the last, `3` all of them followed by a `.` (smsd.c, send_part and
/// send1sms); nothing when no part went.
pub fn message_ids(messageids: u8, refs: &[u8]) -> Vec<String> {
    let (Some(first), Some(last)) = (refs.first(), refs.last()) else {
        return Vec::new();
    };
    match messageids {
        1 => vec![first.to_string()],
        3 => refs
            .iter()
            .map(u8::to_string)
            .chain(std::iter::once(".".to_string()))
            .collect(),
        _ => vec![last.to_string()],
    }
}

impl SpoolBridge {
    /// Reads smsd.conf at `conf_path`, picks the modem the bot replaces on `port`, and
    /// opens the spool: recovers what a crash left in outgoing/ and checked/ and in
    /// incoming/. Incomplete messages are given up `expiry` after their latest part
    /// (`None`: modem-core's default, an hour).
    pub fn open(
        conf_path: &Path,
        port: &Path,
        expiry: Option<Duration>,
    ) -> Result<SpoolBridge, SpoolError> {
        SpoolBridge::with_conf(SmsdConf::load(conf_path)?, port, expiry)
    }

    /// [`Self::open`] with smsd.conf already read (the bot checks it before it touches
    /// smstools, and opens the spool once the port is its own).
    pub fn with_conf(
        conf: SmsdConf,
        port: &Path,
        expiry: Option<Duration>,
    ) -> Result<SpoolBridge, SpoolError> {
        let modem = conf.modem_for_bot(port)?.clone();
        let handler = conf.eventhandler_for(&modem).map(str::to_owned);
        let events = match (&handler, &conf.eventhandler) {
            (None, None) => None,
            _ => {
                // Debian's start script gives the smsd that reads /etc/smsd.conf the user
                // of /etc/default/smstools; an smsd.conf elsewhere is some other smsd's.
                let defaults = if conf.path == Path::new(super::DEFAULT_SMSD_CONF) {
                    std::fs::read_to_string(SMSTOOLS_DEFAULTS).ok()
                } else {
                    None
                };
                let run_as = RunAs::for_smsd(
                    conf.global("user"),
                    conf.global("group"),
                    &conf.path,
                    defaults.as_deref(),
                )
                .map_err(|e| SpoolError::Conf {
                    file: conf.path.clone(),
                    line: 0,
                    problem: format!("the eventhandler cannot run as smsd's user: {e}"),
                })?;
                if let Some(who) = &run_as {
                    log::info!(
                        "spool: the eventhandler runs as {}, as smsd runs it",
                        who.user
                    );
                }
                let runner =
                    EventRunner::spawn(conf.shell.clone(), run_as, HANDLER_TIMEOUT, DRAIN_TIMEOUT)
                        .map_err(SpoolError::io(
                            "cannot start the eventhandler thread for",
                            &conf.path,
                        ))?;
                Some(Events {
                    handler,
                    global: conf.eventhandler.clone(),
                    messageids: modem.messageids,
                    runner,
                })
            }
        };
        let identity = ModemIdentity {
            name: modem.name.clone(),
            imsi: None,
            imei: None,
        };
        let mut outbox = Outbox::from_conf(&conf, identity.clone());
        outbox.keep_unfiled = events.is_some();
        for r in outbox.recover()? {
            log::info!("spool: after an unclean stop: {r}");
            // A file whose outcome was decided but not yet filed when the bot stopped is
            // filed now; its eventhandler call had not been made.
            if let (Some(events), Recovered::Finished { to: Some(path), .. }) = (&events, &r) {
                let folder = path.parent();
                let event = if folder.is_some() && folder == conf.sent.as_deref() {
                    SpoolEvent::Sent
                } else {
                    SpoolEvent::Failed
                };
                let refs: Vec<u8> = recorded_message_id(path).into_iter().collect();
                events.run(event, path.clone(), &refs, None);
            }
        }
        let inbox = Inbox::open(&conf.incoming, identity)?;
        let expiry = expiry.map_or(DEFAULT_EXPIRY_S, |d| d.as_secs().max(1));
        Ok(SpoolBridge {
            conf,
            inbox,
            outbox,
            reader: SimReader::new(expiry),
            clock: Instant::now(),
            dirty: Arc::new(AtomicBool::new(true)),
            backlog: Vec::new(),
            tries: HashMap::new(),
            next_reference: 0,
            delivered: Vec::new(),
            events,
        })
    }

    /// Waits until every eventhandler call queued so far has run, at most `within` (for
    /// tests and for a caller that wants the handlers done before it goes on).
    pub fn wait_for_handlers(&self, within: Duration) -> bool {
        self.events
            .as_ref()
            .is_none_or(|e| e.runner.wait_idle(within))
    }

    /// Runs the eventhandler calls still queued (within their bound) and stops its thread;
    /// dropping the bridge does the same.
    pub fn close_handlers(&mut self) {
        if let Some(e) = self.events.as_mut() {
            e.runner.close();
        }
    }

    /// Where a completed file is, and what to delete after its handler: a file smsd.conf
    /// has no folder for is still under its hidden name.
    fn filed(
        &self,
        to: Option<PathBuf>,
        folder: Option<&Path>,
    ) -> Option<(PathBuf, Option<PathBuf>)> {
        let path = to?;
        let in_folder = folder.is_some_and(|f| path.parent() == Some(f));
        let delete_after = (!in_folder).then(|| path.clone());
        Some((path, delete_after))
    }

    /// smsd.conf as read.
    pub fn conf(&self) -> &SmsdConf {
        &self.conf
    }

    /// The modem's name in smsd.conf.
    pub fn modem_name(&self) -> &str {
        &self.inbox.modem().name
    }

    /// What the files say about the modem, once the bot knows (AT+CIMI, AT+CGSN).
    pub fn set_identity(&mut self, imsi: Option<String>, imei: Option<String>) {
        let identity = ModemIdentity {
            name: self.inbox.modem().name.clone(),
            imsi,
            imei,
        };
        self.inbox.set_modem(identity.clone());
        self.outbox.modem = identity;
    }

    fn now_s(&self) -> u64 {
        self.clock.elapsed().as_secs()
    }

    /// A stored message read from SIM slot `index` (`AT+CMGR` in PDU mode: the hex and
    /// the TPDU length). Returns the slots to delete now (`AT+CMGD`): only those whose
    /// message or status report is durably in incoming/. A PDU that does not decode stays
    /// on the SIM for smsd.
    pub fn receive(&mut self, index: u16, pdu_hex: &str, tpdu_len: usize) -> Vec<u16> {
        let part = match Incoming::from_cmgr(pdu_hex, tpdu_len) {
            Ok(Incoming::Deliver(d)) => d,
            Ok(Incoming::StatusReport(r)) => {
                let key = report_key(&r);
                if let Some(file) = self.inbox.delivered_part(key) {
                    log::info!(
                        "spool: SIM slot {index} (a status report) was delivered before as \
                         {file}; deleting it"
                    );
                    return vec![index];
                }
                return match self.deliver_report(&r, vec![key]) {
                    true => vec![index],
                    false => Vec::new(),
                };
            }
            Err(e) => {
                log_undecodable(index, &e);
                return Vec::new();
            }
        };
        if let Some(file) = self.inbox.delivered_part(part_key(&part)) {
            log::info!("spool: SIM slot {index} was delivered before as {file}; deleting it");
            return vec![index];
        }
        let ready = self.reader.push(index, part, self.now_s());
        self.deliver_all(ready)
    }

    /// The file name under which a message stored on the SIM (`AT+CMGR`'s hex and TPDU
    /// length) was delivered before, if the delivery ledger knows it: `sim7600 restore`
    /// deletes such slots before smsd reads the SIM, so that a bot killed between a
    /// message's delivery and `AT+CMGD` leaves no second copy for smsd to deliver.
    pub fn already_delivered(&self, pdu_hex: &str, tpdu_len: usize) -> Option<String> {
        match Incoming::from_cmgr(pdu_hex, tpdu_len) {
            Ok(Incoming::Deliver(part)) => self
                .inbox
                .delivered_part(part_key(&part))
                .map(str::to_owned),
            Ok(Incoming::StatusReport(r)) => {
                self.inbox.delivered_part(report_key(&r)).map(str::to_owned)
            }
            Err(_) => None,
        }
    }

    /// A status report the modem routed to the host (`+CDS`): written into incoming/ as
    /// smsd writes it, with its `REPORT` event. Returns whether it was written (or had
    /// been before); a PDU that is not a status report is logged and dropped (nothing
    /// else holds it).
    pub fn routed_report(&mut self, pdu: &RoutedPdu) -> bool {
        match pdu.decode() {
            Ok(Incoming::StatusReport(r)) => self.deliver_report(&r, Vec::new()),
            Ok(Incoming::Deliver(_)) => {
                log::warn!("spool: a +CDS carried an SMS-DELIVER, not a status report; dropped");
                false
            }
            Err(e) => {
                log::warn!("spool: a +CDS does not decode ({e}); dropped");
                false
            }
        }
    }

    /// An SMS the modem routed to the host (`+CMT`) instead of storing it: it is nowhere
    /// else, so it is written into incoming/ at once, with its `RECEIVED` event; a part of
    /// a long message becomes a file of its own, as smsd writes a part it gave up on (the
    /// other parts are not stored anywhere either). Returns whether it was written (or had
    /// been before).
    pub fn routed_message(&mut self, pdu: &RoutedPdu) -> bool {
        let part = match pdu.decode() {
            Ok(Incoming::Deliver(d)) => d,
            Ok(Incoming::StatusReport(r)) => return self.deliver_report(&r, Vec::new()),
            Err(e) => {
                log::error!("spool: an SMS routed as +CMT does not decode ({e}); it is lost");
                return false;
            }
        };
        let sms = match part.concatenation {
            Some(_) => ReceivedSms::incomplete_part(&part),
            None => ReceivedSms::from_deliver(&part),
        };
        match self.inbox.deliver(&sms, SpoolTime::now_local()) {
            Ok(Delivery::Written(path)) => {
                log::info!(
                    "spool: SMS from {} (routed) written to {}",
                    sms.from,
                    path.display()
                );
                if let Some(events) = &self.events {
                    events.run(SpoolEvent::Received, path.clone(), &[], None);
                }
                self.delivered.push(delivered_sms(&sms, path));
                true
            }
            Ok(Delivery::AlreadyDelivered(name)) => {
                log::info!(
                    "spool: SMS from {} was delivered before as {name}",
                    sms.from
                );
                true
            }
            Err(e) => {
                log::error!(
                    "spool: cannot write an SMS from {} routed as +CMT: {e}",
                    sms.from
                );
                false
            }
        }
    }

    fn deliver_report(&mut self, report: &StatusReport, parts: Vec<u64>) -> bool {
        let rendered = render_report(report, self.inbox.modem(), SpoolTime::now_local());
        match self.inbox.deliver_rendered(&rendered, parts) {
            Ok(Delivery::Written(path)) => {
                log::info!(
                    "spool: status report for message {} to {} ({}) written to {}",
                    report.message_reference,
                    report.recipient,
                    explain_status(report.status.0),
                    path.display()
                );
                if let Some(events) = &self.events {
                    events.run(SpoolEvent::Report, path, &[], None);
                }
                true
            }
            Ok(Delivery::AlreadyDelivered(name)) => {
                log::info!("spool: that status report was delivered before as {name}");
                true
            }
            Err(e) => {
                log::error!("spool: cannot write a status report: {e}");
                false
            }
        }
    }

    /// When to call [`Self::expire`] next (`None`: nothing is waiting for parts).
    pub fn next_expiry(&self) -> Option<Instant> {
        self.reader
            .next_expiry()
            .map(|s| self.clock + Duration::from_secs(s))
    }

    /// Gives up messages whose parts stopped coming; returns the slots to delete.
    pub fn expire(&mut self) -> Vec<u16> {
        let ready = self.reader.expired(self.now_s());
        self.deliver_all(ready)
    }

    fn deliver_all(&mut self, ready: Vec<super::receive::ReadyMessage>) -> Vec<u16> {
        let mut delete = Vec::new();
        for m in ready {
            match self.inbox.deliver(&m.sms, SpoolTime::now_local()) {
                Ok(Delivery::Written(path)) => {
                    log::info!(
                        "spool: SMS from {} written to {}",
                        m.sms.from,
                        path.display()
                    );
                    delete.extend(m.sim_indexes);
                    if let Some(events) = &self.events {
                        events.run(SpoolEvent::Received, path.clone(), &[], None);
                    }
                    self.delivered.push(delivered_sms(&m.sms, path));
                }
                Ok(Delivery::AlreadyDelivered(name)) => {
                    log::info!(
                        "spool: SMS from {} was delivered before as {name}",
                        m.sms.from
                    );
                    delete.extend(m.sim_indexes);
                }
                // Not deleted: still on the SIM, read again at the next start or by smsd.
                Err(e) => log::error!("spool: cannot deliver an SMS from {}: {e}", m.sms.from),
            }
        }
        delete
    }

    /// The messages written into incoming/ since the last call (by [`Self::receive`] and
    /// [`Self::expire`]; not those the ledger knew), oldest first.
    pub fn take_delivered(&mut self) -> Vec<DeliveredSms> {
        std::mem::take(&mut self.delivered)
    }

    /// The bot gives the port back: messages still waiting for parts stay on the SIM,
    /// where smsd finds and joins them.
    pub fn release_port(&mut self) {
        self.reader.forget();
    }

    /// A flag the watch thread sets when outgoing/ or checked/ changed.
    pub fn dirty_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.dirty)
    }

    /// Starts a thread that sleeps on inotify and, when outgoing/ or checked/ change,
    /// marks the spool for a rescan and calls `wake` (the bot's loop wakes and calls
    /// [`Self::next_job`]). Dropping the handle stops the thread.
    pub fn spawn_watcher(
        &self,
        wake: impl Fn() + Send + 'static,
    ) -> Result<WatchThread, SpoolError> {
        WatchThread::spawn(
            &[&self.conf.checked, &self.conf.outgoing],
            self.dirty_flag(),
            wake,
        )
    }

    /// The next file to send, claimed and encoded; files that cannot be sent as they
    /// are go to failed/ on the way. `None` when nothing waits.
    pub fn next_job(&mut self) -> Result<Option<SpoolJob>, SpoolError> {
        loop {
            if self.backlog.is_empty() && self.dirty.swap(false, Ordering::AcqRel) {
                self.backlog = self.outbox.pending()?;
                // pending() is oldest first; pop() takes from the end.
                self.backlog.reverse();
            }
            let Some(path) = self.backlog.pop() else {
                return Ok(None);
            };
            let Some(claim) = self.outbox.claim(&path)? else {
                continue;
            };
            match self.encode(&claim) {
                Ok(parts) => {
                    return Ok(Some(SpoolJob {
                        claim,
                        parts,
                        refs: Vec::new(),
                        started: Instant::now(),
                    }));
                }
                Err(reason) => {
                    log::warn!("spool: {} cannot be sent: {reason}", path.display());
                    let outcome = SendOutcome::Failed {
                        reason,
                        at: SpoolTime::now_local(),
                    };
                    let to = self.outbox.complete(claim, &outcome)?;
                    let failed = self.conf.failed.clone();
                    if let (Some(events), Some((file, delete_after))) =
                        (&self.events, self.filed(to, failed.as_deref()))
                    {
                        events.refused(file, delete_after);
                    }
                }
            }
        }
    }

    fn encode(&mut self, claim: &Claim) -> Result<Vec<EncodedPart>, String> {
        let message = claim.message().map_err(|e| match e {
            SpoolError::BadOutgoing { reason, .. } => reason.clone(),
            other => other.to_string(),
        })?;
        let destination = message
            .to
            .address()
            .map_err(|e| format!("To: {}: {e}", message.to.digits))?;
        let options = SubmitOptions {
            status_report: message.wants_report(self.outbox.report_default),
            flash: message.flash,
            force_ucs2: message.alphabet == OutgoingAlphabet::Ucs2,
            max_parts: MAX_SPOOL_PARTS,
            ..SubmitOptions::default()
        };
        self.next_reference = self.next_reference.wrapping_add(1);
        let plan = SubmitPlan::new(destination, &message.text, self.next_reference, options)
            .map_err(|e| e.to_string())?;
        plan.encoded_parts()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())
    }

    /// Every part went: the file moves to sent/ with smsd's headers.
    pub fn sent(&mut self, job: SpoolJob) -> Result<Option<PathBuf>, SpoolError> {
        self.tries.remove(job.name());
        let outcome = SendOutcome::Sent {
            message_refs: job.refs.clone(),
            at: SpoolTime::now_local(),
            took: job.started.elapsed(),
        };
        let to = self.outbox.complete(job.claim, &outcome)?;
        Ok(self.completed(SpoolEvent::Sent, to, &job.refs))
    }

    /// Queues the eventhandler of a completed file; returns where it is as the caller
    /// knows it (`None` when smsd.conf has no folder for it).
    fn completed(&self, event: SpoolEvent, to: Option<PathBuf>, refs: &[u8]) -> Option<PathBuf> {
        let folder = match event {
            SpoolEvent::Sent => self.conf.sent.clone(),
            _ => self.conf.failed.clone(),
        };
        let (file, delete_after) = self.filed(to, folder.as_deref())?;
        let shown = delete_after.is_none().then(|| file.clone());
        if let Some(events) = &self.events {
            events.run(event, file, refs, delete_after);
        }
        shown
    }

    /// The modem refused the file for good: it moves to failed/ with `reason`.
    pub fn failed(&mut self, job: SpoolJob, reason: &str) -> Result<Option<PathBuf>, SpoolError> {
        self.tries.remove(job.name());
        let outcome = SendOutcome::Failed {
            reason: reason.to_string(),
            at: SpoolTime::now_local(),
        };
        let to = self.outbox.complete(job.claim, &outcome)?;
        Ok(self.completed(SpoolEvent::Failed, to, &job.refs))
    }

    /// A failure that may pass (the port went away, the network was busy): the file goes
    /// back to its folder to be tried again (all its parts: at least once), up to
    /// [`SEND_TRIES`] times, then to failed/ with `why`. Returns where it is.
    pub fn retry_later(&mut self, job: SpoolJob, why: &str) -> Result<Option<PathBuf>, SpoolError> {
        let tries = self.tries.entry(job.name().to_string()).or_insert(0);
        *tries += 1;
        if *tries >= SEND_TRIES {
            let reason = format!("{why} (after {SEND_TRIES} tries)");
            return self.failed(job, &reason);
        }
        let path = self.outbox.release(job.claim)?;
        Ok(Some(path))
    }

    /// A file given back untouched (the bot stops before sending it).
    pub fn put_back(&mut self, job: SpoolJob) -> Result<PathBuf, SpoolError> {
        self.outbox.release(job.claim)
    }
}

fn delivered_sms(sms: &super::incoming::ReceivedSms, file: PathBuf) -> DeliveredSms {
    let t = &sms.sent;
    let offset = t.utc_offset_minutes();
    let time = format!(
        "20{:02}-{:02}-{:02}T{:02}:{:02}:{:02}{}{:02}:{:02}",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        if offset < 0 { '-' } else { '+' },
        offset.unsigned_abs() / 60,
        offset.unsigned_abs() % 60
    );
    let text = match &sms.text {
        super::incoming::IncomingText::Text { text, .. } => text.clone(),
        super::incoming::IncomingText::Binary(bytes) => format!("[{} bytes of data]", bytes.len()),
    };
    DeliveredSms {
        from: sms.from.to_string(),
        text,
        time,
        file,
    }
}

fn log_undecodable(index: u16, e: &DecodeError) {
    log::warn!("spool: SIM slot {index} does not decode ({e}); left on the SIM for smsd");
}

/// The thread that sleeps on inotify for [`SpoolBridge::spawn_watcher`].
#[derive(Debug)]
pub struct WatchThread {
    stop: Shutdown,
    handle: Option<JoinHandle<()>>,
}

impl WatchThread {
    fn spawn(
        folders: &[&Path],
        dirty: Arc<AtomicBool>,
        wake: impl Fn() + Send + 'static,
    ) -> Result<WatchThread, SpoolError> {
        let watcher = SpoolWatcher::new(folders)?;
        let first = folders
            .first()
            .map_or_else(PathBuf::new, |p| p.to_path_buf());
        let stop = Shutdown::new();
        let watch = stop.watch().map_err(SpoolError::io(
            "cannot create the watch thread's stop pipe for",
            &first,
        ))?;
        let handle = std::thread::Builder::new()
            .name("spool-watch".into())
            .spawn(move || {
                loop {
                    match watch.wait_on(watcher.as_fd(), None) {
                        Ok(Woken::Stopping) => return,
                        Ok(Woken::Ready | Woken::TimedOut) => {}
                        Err(e) => {
                            log::error!("spool: watching stopped: {e}");
                            return;
                        }
                    }
                    match watcher.read() {
                        Ok(events) if events.is_empty() => {}
                        Ok(_) => {
                            dirty.store(true, Ordering::Release);
                            wake();
                        }
                        Err(e) => {
                            log::error!("spool: watching stopped: {e}");
                            return;
                        }
                    }
                }
            })
            .map_err(SpoolError::io("cannot start the watch thread for", &first))?;
        Ok(WatchThread {
            stop,
            handle: Some(handle),
        })
    }
}

impl Drop for WatchThread {
    fn drop(&mut self) {
        // The thread's watch becomes readable: it returns.
        self.stop.stop();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Spool {
        dir: tempfile::TempDir,
        conf: PathBuf,
    }

    fn spool() -> Spool {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["outgoing", "checked", "incoming", "sent", "failed"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        let d = dir.path().display();
        let conf = dir.path().join("smsd.conf");
        std::fs::write(
            &conf,
            format!(
                "devices = GSM1\noutgoing = {d}/outgoing\nchecked = {d}/checked\n\
                 incoming = {d}/incoming\nsent = {d}/sent\nfailed = {d}/failed\n\
                 [GSM1]\ndevice = /dev/ttyUSB2\nincoming = yes\n"
            ),
        )
        .unwrap();
        Spool { dir, conf }
    }

    fn open(s: &Spool) -> SpoolBridge {
        SpoolBridge::open(
            &s.conf,
            Path::new("/dev/ttyUSB2"),
            Some(Duration::from_secs(60)),
        )
        .unwrap()
    }

    const HOW_ARE_YOU: &str =
        "07911326040000F0040B911346610089F60000621142507155000CC8F71D14969741F977FD07";

    fn tpdu_len(hex: &str) -> usize {
        // The SMSC part is its length octet plus that many octets.
        let smsc = usize::from_str_radix(&hex[..2], 16).unwrap();
        hex.len() / 2 - 1 - smsc
    }

    fn incoming_files(s: &Spool) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(s.dir.path().join("incoming"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("GSM1."))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn an_sms_read_from_the_sim_is_written_then_its_slot_may_be_deleted_and_never_twice() {
        let s = spool();
        let mut b = open(&s);
        b.set_identity(
            Some("262011234567890".into()),
            Some("351602000330570".into()),
        );
        assert_eq!(b.receive(3, HOW_ARE_YOU, tpdu_len(HOW_ARE_YOU)), [3]);
        let files = incoming_files(&s);
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(s.dir.path().join("incoming").join(&files[0])).unwrap();
        assert!(text.contains("IMEI: 351602000330570\n"), "{text}");
        let delivered = b.take_delivered();
        assert_eq!(delivered.len(), 1);
        assert_eq!(delivered[0].from, "+31641600986");
        assert_eq!(delivered[0].text, "How are you?");
        assert_eq!(delivered[0].time, "2026-11-24T05:17:55+00:00");
        assert!(delivered[0].file.ends_with(&files[0]));
        assert!(b.take_delivered().is_empty(), "taken once");
        // The bot was killed before AT+CMGD: the next bot reads the slot again.
        let mut again = open(&s);
        assert_eq!(again.receive(3, HOW_ARE_YOU, tpdu_len(HOW_ARE_YOU)), [3]);
        assert_eq!(incoming_files(&s).len(), 1, "not delivered twice");
        assert_eq!(
            again.already_delivered(HOW_ARE_YOU, tpdu_len(HOW_ARE_YOU)),
            Some(files[0].clone())
        );
        let fresh = spool();
        assert_eq!(
            open(&fresh).already_delivered(HOW_ARE_YOU, tpdu_len(HOW_ARE_YOU)),
            None
        );
        assert!(again.take_delivered().is_empty(), "no event for a repeat");
    }

    /// A spool whose smsd.conf names a recording eventhandler (and no sent/ folder when
    /// `sent` is false).
    fn spool_with_handler(sent: bool) -> (Spool, PathBuf) {
        let s = spool();
        let d = s.dir.path().display();
        let log = s.dir.path().join("events");
        let handler = s.dir.path().join("handler");
        std::fs::write(
            &handler,
            format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\nhead -1 \"$2\" >> '{}'\n",
                log.display(),
                log.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&handler, std::fs::Permissions::from_mode(0o755)).unwrap();
        let sent_line = if sent {
            format!("sent = {d}/sent\n")
        } else {
            String::new()
        };
        std::fs::write(
            &s.conf,
            format!(
                "devices = GSM1\noutgoing = {d}/outgoing\nchecked = {d}/checked\n\
                 incoming = {d}/incoming\n{sent_line}failed = {d}/failed\n\
                 eventhandler = {}\n[GSM1]\ndevice = /dev/ttyUSB2\nincoming = yes\n",
                handler.display()
            ),
        )
        .unwrap();
        (s, log)
    }

    fn send_all(b: &mut SpoolBridge, refs: &[u8]) -> SpoolJob {
        let mut job = b.next_job().unwrap().unwrap();
        job.begin().unwrap();
        for r in refs {
            job.part_sent(*r);
        }
        job
    }

    #[test]
    fn every_file_the_bridge_writes_or_moves_gets_its_eventhandler_call_in_order() {
        let (s, log) = spool_with_handler(true);
        let d = s.dir.path();
        let mut b = open(&s);
        b.receive(3, HOW_ARE_YOU, tpdu_len(HOW_ARE_YOU));
        let received = d.join("incoming").join(&incoming_files(&s)[0]);
        std::fs::write(d.join("outgoing/hi"), "To: 491721234567\n\nHello").unwrap();
        let job = send_all(&mut b, &[42]);
        b.sent(job).unwrap();
        std::fs::write(d.join("outgoing/bad"), "Flash: yes\n\nnowhere").unwrap();
        b.dirty.store(true, Ordering::Release);
        assert!(b.next_job().unwrap().is_none());
        std::fs::write(d.join("outgoing/no"), "To: 49\n\nx").unwrap();
        b.dirty.store(true, Ordering::Release);
        let job = send_all(&mut b, &[]);
        b.failed(job, "+CMS ERROR: 500").unwrap();
        assert!(b.wait_for_handlers(Duration::from_secs(10)));
        let d = d.display();
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            format!(
                "RECEIVED {}\nFrom: 31641600986\nSENT {d}/sent/hi 42\nTo: 491721234567\n\
                 FAILED {d}/failed/bad\nFlash: yes\nFAILED {d}/failed/no\nTo: 49\n",
                received.display()
            )
        );
    }

    #[test]
    fn without_a_sent_folder_the_handler_reads_the_file_before_it_is_deleted() {
        let (s, log) = spool_with_handler(false);
        let mut b = open(&s);
        std::fs::write(s.dir.path().join("outgoing/m"), "To: 49\n\nx").unwrap();
        let job = send_all(&mut b, &[7, 8]);
        assert_eq!(b.sent(job).unwrap(), None, "no sent/ folder");
        b.close_handlers();
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.starts_with("SENT ") && text.ends_with(" 8\nTo: 49\n"),
            "{text}"
        );
        let leftovers: Vec<_> = std::fs::read_dir(s.dir.path().join("outgoing"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    /// A status report as the simulator stores it (reference 1 to +491721234567).
    const STORED_REPORT: &str =
        "07911326040000F006010C91947112325476622170319314006221703193140000";

    #[test]
    fn a_status_report_from_the_sim_or_a_cds_becomes_a_report_file_with_its_event() {
        let (s, log) = spool_with_handler(true);
        let mut b = open(&s);
        assert_eq!(b.receive(4, STORED_REPORT, 25), [4], "deleted once written");
        let files = incoming_files(&s);
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(s.dir.path().join("incoming").join(&files[0])).unwrap();
        assert!(text.ends_with("\n\nSMS STATUS REPORT\nMessage_id: 1\nDischarge_timestamp: 26-12-07 13:39:41\nStatus: 0,Ok,short message received by the SME"), "{text}");
        // Read again after a crash before AT+CMGD: deleted, not written twice.
        let mut again = open(&s);
        assert_eq!(again.receive(4, STORED_REPORT, 25), [4]);
        assert_eq!(incoming_files(&s).len(), 1);
        assert!(again.already_delivered(STORED_REPORT, 25).is_some());
        // The same report routed as +CDS is the same file: the ledger knows it.
        let routed = modem_core::urc::Urc::parse(format!("+CDS: 25\r\n{STORED_REPORT}").as_bytes());
        let Some(modem_core::urc::Urc::StatusReport(pdu)) = routed else {
            panic!("{routed:?}")
        };
        assert!(again.routed_report(&pdu));
        assert_eq!(incoming_files(&s).len(), 1);
        assert!(b.wait_for_handlers(Duration::from_secs(10)));
        let calls = std::fs::read_to_string(&log).unwrap();
        assert_eq!(calls.matches("REPORT ").count(), 1, "{calls}");
    }

    #[test]
    fn a_file_decided_but_not_filed_when_the_bot_died_gets_its_call_when_it_is_filed() {
        let (s, log) = spool_with_handler(true);
        // The sent/ file was written (hidden) and fsynced; the move into sent/ never came.
        std::fs::write(
            s.dir.path().join("checked/.late.sim7600-sent"),
            "To: 49\nModem: GSM1\nMessage_id: 17\n\nx",
        )
        .unwrap();
        let mut b = open(&s);
        b.close_handlers();
        let d = s.dir.path().display();
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            format!("SENT {d}/sent/late 17\nTo: 49\n")
        );
    }

    #[test]
    fn an_sms_routed_as_cmt_is_written_at_once_with_its_event() {
        let (s, log) = spool_with_handler(true);
        let mut b = open(&s);
        let urc = modem_core::urc::Urc::parse(format!("+CMT: ,30\r\n{HOW_ARE_YOU}").as_bytes());
        let Some(modem_core::urc::Urc::RoutedMessage(pdu)) = urc else {
            panic!("{urc:?}")
        };
        assert!(b.routed_message(&pdu));
        assert!(
            b.routed_message(&pdu),
            "a repeat is known, not written twice"
        );
        let files = incoming_files(&s);
        assert_eq!(files.len(), 1);
        assert_eq!(b.take_delivered().len(), 1);
        assert!(b.wait_for_handlers(Duration::from_secs(10)));
        let calls = std::fs::read_to_string(&log).unwrap();
        assert!(calls.starts_with("RECEIVED "), "{calls}");
        assert_eq!(calls.matches("RECEIVED").count(), 1, "{calls}");
    }

    #[test]
    fn a_part_of_a_long_sms_routed_as_cmt_is_a_file_of_its_own_as_smsd_writes_one() {
        let s = spool();
        let mut b = open(&s);
        let time = modem_sim::pdu::SmsTime::now();
        let parts = modem_sim::pdu::encode_deliver(
            "+31624000000",
            "+491761234567",
            &"x".repeat(200),
            &time,
            7,
        );
        assert_eq!(parts.len(), 2);
        let urc = modem_core::urc::Urc::parse(
            format!("+CMT: ,{}\r\n{}", parts[0].tpdu_len, parts[0].hex).as_bytes(),
        );
        let Some(modem_core::urc::Urc::RoutedMessage(pdu)) = urc else {
            panic!("{urc:?}")
        };
        assert!(b.routed_message(&pdu));
        let files = incoming_files(&s);
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(s.dir.path().join("incoming").join(&files[0])).unwrap();
        assert!(text.contains("Incomplete: yes\n"), "{text}");
        assert!(text.contains("UDH-DATA: 05 00 03 07 02 01 \n"), "{text}");
    }

    #[test]
    fn message_ids_follow_smsd_messageids_setting() {
        assert_eq!(message_ids(2, &[5, 6, 7]), ["7"]);
        assert_eq!(message_ids(1, &[5, 6, 7]), ["5"]);
        assert_eq!(message_ids(3, &[5, 6]), ["5", "6", "."]);
        assert!(message_ids(2, &[]).is_empty());
    }

    #[test]
    fn a_broken_smsd_conf_is_an_error_naming_its_line() {
        let s = spool();
        std::fs::write(&s.conf, "devices = GSM1\nnot a setting\n").unwrap();
        let e = SpoolBridge::open(&s.conf, Path::new("/dev/ttyUSB2"), None).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn an_undecodable_slot_stays_on_the_sim() {
        let s = spool();
        let mut b = open(&s);
        assert!(b.receive(1, "07911326040000F004", 9).is_empty());
        assert!(incoming_files(&s).is_empty());
    }

    #[test]
    fn a_dropped_file_becomes_a_job_whose_parts_are_sent_and_it_lands_in_sent() {
        let s = spool();
        let mut b = open(&s);
        std::fs::write(
            s.dir.path().join("outgoing/hi"),
            "To: 491721234567\n\nHello",
        )
        .unwrap();
        let mut job = b.next_job().unwrap().unwrap();
        assert_eq!(job.recipient(), "+491721234567");
        assert_eq!(job.parts().len(), 1);
        job.begin().unwrap();
        while job.next_part().is_some() {
            job.part_sent(42);
        }
        assert!(job.is_done());
        let to = b.sent(job).unwrap().unwrap();
        assert_eq!(to, s.dir.path().join("sent/hi"));
        assert!(b.next_job().unwrap().is_none(), "nothing else waits");
    }

    #[test]
    fn a_file_smsd_would_refuse_goes_to_failed_without_becoming_a_job() {
        let s = spool();
        let mut b = open(&s);
        std::fs::write(s.dir.path().join("outgoing/bad"), "Flash: yes\n\nnowhere").unwrap();
        assert!(b.next_job().unwrap().is_none());
        let failed = std::fs::read_to_string(s.dir.path().join("failed/bad")).unwrap();
        assert!(failed.contains("Fail_reason: No destination\n"), "{failed}");
    }

    #[test]
    fn a_passing_failure_puts_the_file_back_until_the_tries_are_used_up() {
        let s = spool();
        let mut b = open(&s);
        std::fs::write(s.dir.path().join("outgoing/m"), "To: 49\n\nx").unwrap();
        for _ in 1..SEND_TRIES {
            let job = b.next_job().unwrap().unwrap();
            let back = b.retry_later(job, "modem busy").unwrap().unwrap();
            assert_eq!(back, s.dir.path().join("outgoing/m"));
            // The rename back is a change the watcher would report.
            b.dirty.store(true, Ordering::Release);
        }
        let job = b.next_job().unwrap().unwrap();
        b.retry_later(job, "modem busy").unwrap();
        let failed = std::fs::read_to_string(s.dir.path().join("failed/m")).unwrap();
        assert!(
            failed.contains("Fail_reason: modem busy (after 3 tries)\n"),
            "{failed}"
        );
    }

    #[test]
    fn a_program_started_while_the_watch_thread_runs_does_not_keep_it_alive() {
        let s = spool();
        let b = open(&s);
        let thread = b.spawn_watcher(|| {}).unwrap();
        // smsd, started when the bot gives the port back, outlives the bot.
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(thread);
            let _ = done_tx.send(());
        });
        let stopped = done_rx.recv_timeout(Duration::from_secs(10));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            stopped.is_ok(),
            "the watch thread waited for the child to exit"
        );
    }

    #[test]
    fn the_watch_thread_wakes_the_bot_when_a_file_arrives_and_stops_when_dropped() {
        let s = spool();
        let mut b = open(&s);
        assert!(b.next_job().unwrap().is_none());
        let woken = Arc::new(AtomicUsize::new(0));
        let w = Arc::clone(&woken);
        let thread = b
            .spawn_watcher(move || {
                w.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        std::fs::write(s.dir.path().join("outgoing/.t"), "To: 49\n\nx").unwrap();
        std::fs::rename(
            s.dir.path().join("outgoing/.t"),
            s.dir.path().join("outgoing/n"),
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while woken.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(woken.load(Ordering::SeqCst) >= 1);
        assert_eq!(b.next_job().unwrap().unwrap().name(), "n");
        drop(thread);
    }
}
