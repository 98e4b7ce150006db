//! The call's side of the bot's loop: URCs into modem-core's call machine, its actions
//! carried out on the modem (answer, hang up, dial), its events published (state, call
//! log, metrics, the `[dtmf]` menu, the call's audio), and the requests that concern a
//! call or the network (`POST /calls`, `POST /ussd`, a hang-up).

use std::time::Instant;

use modem_core::call::{CallAction, DialFailure};
use modem_core::urc::Urc;

use super::{Bot, USSD_ANSWER_TIMEOUT, UssdReply};
use crate::bot::state::{BotRequest, now_rfc3339};
use crate::calls::log::CallRecord;
use crate::calls::tracker::Tracked;
use crate::platform::link::Link;

impl Bot<'_> {
    /// A request for the call or the network. (A queued SMS and a reload are the core's.)
    pub(super) async fn on_request(&mut self, link: &mut Link<'_>, request: BotRequest) {
        match request {
            BotRequest::Dial {
                to,
                timeout_s,
                reply,
            } => self.dial(link, &to, timeout_s, reply).await,
            BotRequest::Ussd { code, reply } => self.send_ussd(link, &code, reply).await,
            BotRequest::HangUp => {
                let now = self.now_ms();
                if self.core.call_mut().request_hang_up(now) {
                    self.act(link).await;
                }
            }
            BotRequest::SmsQueued | BotRequest::Reload => {}
        }
    }

    /// What a modem that is gone or restarted takes with it: the call in progress (logged
    /// and published as lost), its audio (no AT+CPCMREG=0 to send), and the call machine's
    /// state.
    pub(super) fn forget_call(&mut self) {
        self.close_audio();
        let now = now_rfc3339();
        if let Some(record) = self.tracker.lost(&now) {
            self.state.events().call_lost(&record);
            self.log_call(&record);
            self.state
                .metrics()
                .call_ended(crate::platform::metrics::CallOutcome::Lost, 0);
        }
        self.core.call_mut().reset();
        self.state.update(|s| s.current_call = None);
    }

    fn log_call(&self, record: &CallRecord) {
        log::info!(
            "call {}: caller {}, {} rings, {}, {} s",
            if record.answered { "ended" } else { "missed" },
            record.caller.as_deref().unwrap_or("(none)"),
            record.rings,
            serde_json::to_string(&record.end).unwrap_or_default(),
            record.duration_s
        );
        if let Err(e) = self.state.call_log().append(record) {
            log::error!("{e}");
        }
    }

    /// `POST /calls`: the machine dials (one call at a time), the caller is told the call's
    /// id when its `dialing` event is published.
    async fn dial(
        &mut self,
        link: &mut Link<'_>,
        to: &str,
        timeout_s: Option<u32>,
        reply: crate::bot::Reply<Result<u64, crate::bot::DialRefused>>,
    ) {
        let number = to
            .strip_prefix('+')
            .filter(|d| !d.is_empty())
            .or(Some(to).filter(|d| !d.is_empty()))
            .filter(|d| d.len() <= 20 && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|_| modem_core::urc::PhoneNumber::try_from(to).ok());
        let Some(number) = number else {
            reply.send(Err(crate::bot::DialRefused::BadNumber(to.to_owned())));
            return;
        };
        let now = self.now_ms();
        let timeout_ms = timeout_s.map(|s| u64::from(s) * 1000);
        if !self.core.call_mut().dial(now, number, timeout_ms) {
            reply.send(Err(crate::bot::DialRefused::CallInProgress));
            return;
        }
        log::info!("dialling {to}");
        self.dial_reply = Some(reply);
        self.act(link).await;
    }

    /// `POST /ussd`: `AT+CUSD`; the answer comes later as a `+CUSD` URC.
    async fn send_ussd(&mut self, link: &mut Link<'_>, code: &str, reply: UssdReply) {
        if self
            .ussd
            .as_ref()
            .is_some_and(|(_, until)| Instant::now() < *until)
        {
            reply.send(Err(crate::bot::UssdFailure::Busy));
            return;
        }
        match link.modem.send_ussd(code).await {
            Ok(()) => {
                log::info!("USSD {code} sent");
                self.ussd = Some((reply, Instant::now() + USSD_ANSWER_TIMEOUT));
            }
            Err(e) => {
                log::warn!("USSD {code}: {e}");
                reply.send(Err(crate::bot::UssdFailure::Refused(e.to_string())));
            }
        }
    }

    /// A URC into the call machine, then whatever it asks for; one about SMS to the spool
    /// first.
    pub(super) async fn on_urc(&mut self, link: &mut Link<'_>, urc: &Urc) {
        match urc {
            Urc::Ussd(answer) => match self.ussd.take() {
                Some((reply, _)) => reply.send(Ok(answer.clone())),
                None => log::info!("USSD from the network: {answer:?}"),
            },
            Urc::NewMessage(_)
            | Urc::NewMessageUnlocated { .. }
            | Urc::StatusReport(_)
            | Urc::RoutedMessage(_) => self.on_message_urc(link, urc).await,
            other => log::debug!("URC {other:?}"),
        }
        let now = self.now_ms();
        self.core.call_mut().handle_urc(now, urc);
        self.act(link).await;
    }

    /// A URC about an SMS: read it for the spool, or leave it for smstools.
    async fn on_message_urc(&mut self, link: &mut Link<'_>, urc: &Urc) {
        match urc {
            Urc::NewMessage(m) => {
                if self.spool.is_none() {
                    // Left on the SIM for smsd, which reads it after the handoff.
                    log::info!("SMS stored at {} {}: left for smstools", m.storage, m.index);
                } else if self.slots.announced(m.storage.as_str(), m.index) {
                    log::info!("SMS stored at {} {}: reading it", m.storage, m.index);
                } else {
                    log::warn!(
                        "SMS stored at {} {}, a storage AT+CMGR does not read: left for \
                         smstools",
                        m.storage,
                        m.index
                    );
                }
            }
            Urc::NewMessageUnlocated { storage } => {
                let place = storage.as_deref().unwrap_or("an unnamed storage");
                if self.spool.is_none() {
                    log::info!("SMS stored in {place}, place not given: left for smstools");
                } else {
                    // The modem said a message arrived but not where: the storage scan
                    // (AT+CPMS?, then every slot up to the count) finds it.
                    log::info!("SMS stored in {place}, place not given: scanning the storage");
                    self.spool_start(link).await;
                }
            }
            Urc::StatusReport(pdu) => match self.spool.as_mut() {
                Some(bridge) => {
                    bridge.routed_report(pdu);
                }
                None => {
                    log::info!("status report (+CDS) received: no smstools spool to write it to")
                }
            },
            Urc::RoutedMessage(pdu) => {
                log::warn!(
                    "an SMS was routed to the host (+CMT) instead of stored: the modem's \
                     AT+CNMI was changed behind the bot's back"
                );
                match self.spool.as_mut() {
                    Some(bridge) => {
                        bridge.routed_message(pdu);
                        self.publish_delivered();
                    }
                    None => log::error!(
                        "an SMS routed as +CMT is lost: no smstools spool to write it to"
                    ),
                }
            }
            _ => {}
        }
    }

    /// The `[dtmf]` menu's action for `key`, pressed during the call. A hang-up goes
    /// through the machine (its action is carried out by [`Bot::act`]'s loop).
    fn on_key(&mut self, key: modem_core::urc::DtmfKey) {
        use crate::audio::KeyOutcome;
        // Sound keys come to NoAudio while the call has no audio (off, or not yet on).
        let audio = self
            .audio
            .as_ref()
            .and_then(crate::audio::BotAudio::current);
        match self.dtmf.on_key(key, audio) {
            KeyOutcome::HangUp => {
                log::info!("DTMF {}: hanging up (the [dtmf] menu)", key.as_char());
                let now = self.now_ms();
                self.core.call_mut().request_hang_up(now);
            }
            KeyOutcome::NoAudio => log::warn!(
                "DTMF {}: the [dtmf] menu wants sound, but the call has no audio",
                key.as_char()
            ),
            KeyOutcome::Refused(e) => log::warn!("DTMF {}: {e}", key.as_char()),
            KeyOutcome::Played(_) | KeyOutcome::Speaking | KeyOutcome::Nothing => {}
        }
    }

    /// Carries out the machine's actions and publishes its events until both are drained.
    pub(super) async fn act(&mut self, link: &mut Link<'_>) {
        loop {
            while let Some(event) = self.core.call_mut().poll_event() {
                self.on_call_event(link, event).await;
            }
            let Some(action) = self.core.call_mut().poll_action() else {
                return;
            };
            self.carry_out(link, action).await;
        }
    }

    /// One event of the call machine: logged, what it means for the call's audio, the
    /// `[dtmf]` menu, the call log and the metrics, then published, so that a client that
    /// reads `GET /calls` or `GET /status` on the event finds the call as it tells
    /// (logged once it ended, its audio closed).
    async fn on_call_event(&mut self, link: &mut Link<'_>, event: modem_core::call::CallEvent) {
        let now = now_rfc3339();
        log::info!("call: {event}");
        if let modem_core::call::CallEvent::Dtmf { key } = event {
            self.on_key(key);
        }
        match &event {
            modem_core::call::CallEvent::Connected { number } => {
                if let Some(audio) = self.audio.as_mut() {
                    audio.call_answered(Instant::now(), number.as_str());
                }
            }
            modem_core::call::CallEvent::Answered { caller, .. } => {
                if let Some(audio) = self.audio.as_mut() {
                    audio.call_answered(Instant::now(), &audio_label(caller));
                    log::debug!(
                        "call audio: {} due in {:?}",
                        crate::audio::PcmCommand::START,
                        audio
                            .next_deadline()
                            .map(|t| t.saturating_duration_since(Instant::now()))
                    );
                }
            }
            modem_core::call::CallEvent::Ended { .. } => self.end_audio(link).await,
            _ => {}
        }
        match self.tracker.handle(&event, &now) {
            Tracked::Current(call) => self.state.update(|s| s.current_call = Some(call)),
            Tracked::Finished(record) => {
                self.state.update(|s| s.current_call = None);
                self.log_call(&record);
                let (outcome, connected_ms) = crate::calls::tracker::outcome_of(&record);
                self.state.metrics().call_ended(outcome, connected_ms);
            }
            Tracked::Nothing => {}
        }
        let published = self.state.events().call_event(&event);
        if let modem_core::call::CallEvent::Dialing { .. } = event {
            if let (Some(reply), Some(id)) = (self.dial_reply.take(), published.call_id) {
                reply.send(Ok(id));
            }
        }
    }

    /// One action of the call machine on the modem; its outcome goes back to the machine.
    async fn carry_out(&mut self, link: &mut Link<'_>, action: CallAction) {
        match action {
            CallAction::Answer => match link.modem.answer().await {
                Ok(()) => {
                    let now = self.now_ms();
                    self.core.call_mut().answer_succeeded(now);
                }
                Err(e) => {
                    log::warn!("answering failed: {e}");
                    let now = self.now_ms();
                    self.core.call_mut().answer_failed(now);
                }
            },
            CallAction::HangUp => {
                if let Err(e) = link.modem.hang_up().await {
                    // The machine ends the call by itself if no end line comes.
                    log::warn!("hanging up failed: {e}");
                }
            }
            CallAction::Dial => {
                let Some(number) = self.core.call().dialled_number().cloned() else {
                    return;
                };
                if let Err(e) = link.modem.dial(&number).await {
                    use modem_core::driver::{ConnectionFailure, ErrorKind};
                    log::warn!("dialling {number} failed: {e}");
                    let reason = match e.kind {
                        ErrorKind::Connection(ConnectionFailure::Busy) => DialFailure::Busy,
                        ErrorKind::Connection(ConnectionFailure::NoAnswer) => DialFailure::NoAnswer,
                        _ => DialFailure::Failed,
                    };
                    let now = self.now_ms();
                    self.core.call_mut().dial_failed(now, reason);
                }
            }
        }
    }
}

/// The label of a call's recording: the caller's number, or why there is none.
fn audio_label(caller: &modem_core::call::Caller) -> String {
    match caller {
        modem_core::call::Caller::Number(n) => n.as_str().to_string(),
        modem_core::call::Caller::Withheld => "withheld".into(),
        modem_core::call::Caller::Unavailable => "unavailable".into(),
        modem_core::call::Caller::Unknown => "unknown".into(),
    }
}
