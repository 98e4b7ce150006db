//! The events as they leave the bot: their JSON shape, and the numbering of calls.
//!
//! This module owns, sans-I/O, what an [`Event`] says and how modem-core's
//! [`CallEvent`]s become events ([`CallNumbering`]): every event of one call carries the
//! same `call_id`, a new call gets the next one. The shapes are documented in
//! docs/events.md; the call-related words (`caller_id`, `reason`) are the call log's
//! ([`crate::calls::CallRecord`]), so a webhook and `GET /calls` speak the same language.

use modem_core::call::CallEvent;
use serde::Serialize;

use crate::calls::tracker::{caller_fields, dial_end_of, end_of, miss_of};
use crate::calls::{CallEnd, CallRecord, CallerIdKind};

/// One event, as a webhook receives it and as `GET /events` streams it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Grows by one with every event the bot publishes (from 1 at each start of the bot).
    pub id: u64,
    /// When it was published, RFC 3339 UTC with milliseconds.
    pub at: String,
    /// The call it belongs to (`null` for an SMS): the same for every event of one call.
    /// Written as a string ([`call_id_text`]), which a client sends back as `callId`.
    #[serde(serialize_with = "serialize_call_id")]
    pub call_id: Option<u64>,
    /// What happened, with its `type`.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// A call's id as the events and the API show it: its number as a string (`"3"`).
pub fn call_id_text(id: u64) -> String {
    id.to_string()
}

fn serialize_call_id<S: serde::Serializer>(id: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.serialize_str(&call_id_text(*id)),
        None => s.serialize_none(),
    }
}

impl Event {
    /// The event's `type` as in its JSON (`"ringing"`, `"sms_received"`, ...).
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }

    /// The event as one line of JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain strings and numbers cannot fail; an empty object would only
        // hide the event, never crash the publisher.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The phone rings (again).
    Ringing {
        /// The caller's number, when known yet.
        caller: Option<String>,
        /// Whether there is a number, and if not why (`withheld`, `unavailable`,
        /// `unknown` while the modem has not said).
        caller_id: CallerIdKind,
        /// Which ring this is, from 1.
        ring: u16,
    },
    /// The caller's identity arrived (or changed) while it rang.
    CallerIdentified {
        /// The caller's number, when there is one.
        caller: Option<String>,
        /// Whether there is a number, and if not why.
        caller_id: CallerIdKind,
    },
    /// The call was answered.
    Answered {
        /// The caller's number, when known.
        caller: Option<String>,
        /// Whether there is a number, and if not why.
        caller_id: CallerIdKind,
        /// Rings before the answer.
        rings: u16,
    },
    /// The caller pressed a key.
    Dtmf {
        /// `0`-`9`, `A`-`D`, `*` or `#`.
        key: String,
    },
    /// An answered call ended.
    Ended {
        /// The caller's number, when known.
        caller: Option<String>,
        /// Whether there is a number, and if not why.
        caller_id: CallerIdKind,
        /// Talk time in seconds.
        duration_s: u32,
        /// How it ended, as the call log says it (`caller_hung_up`, `we_hung_up`,
        /// `max_call_seconds`, `no_carrier`, `modem_lost`).
        reason: CallEnd,
    },
    /// A call was never answered.
    Missed {
        /// The caller's number, when known.
        caller: Option<String>,
        /// Whether there is a number, and if not why.
        caller_id: CallerIdKind,
        /// Rings seen.
        rings: u16,
        /// Why, as the call log says it (`missed_caller_gave_up`, ...).
        reason: CallEnd,
    },
    /// The bot dials a number (`POST /calls`).
    Dialing {
        /// The number dialled.
        to: String,
    },
    /// The far end of a call the bot dialled rings.
    #[serde(rename = "ringing")]
    OutgoingRinging {
        /// The number dialled.
        to: String,
    },
    /// The far end of a call the bot dialled answered.
    #[serde(rename = "answered")]
    OutgoingAnswered {
        /// The number dialled.
        to: String,
    },
    /// The far end of a call the bot dialled is busy.
    Busy {
        /// The number dialled.
        to: String,
    },
    /// The far end of a call the bot dialled did not answer (or not within `timeout_s`).
    NoAnswer {
        /// The number dialled.
        to: String,
    },
    /// A call the bot dialled did not connect: rejected, refused by the network or the
    /// modem (`reason` `failed`), or hung up before the answer (`cancelled`).
    Failed {
        /// The number dialled.
        to: String,
        /// `failed` or `cancelled`, as the call log says it.
        reason: CallEnd,
    },
    /// A call the bot dialled and the far end answered ended.
    #[serde(rename = "ended")]
    OutgoingEnded {
        /// The number dialled.
        to: String,
        /// Talk time in seconds.
        duration_s: u32,
        /// How it ended (`caller_hung_up`: the far end hung up; `we_hung_up`, ...).
        reason: CallEnd,
    },
    /// An SMS arrived.
    SmsReceived {
        /// The sender.
        from: String,
        /// The text.
        text: String,
        /// When the network says it was sent (the service centre's time stamp), as the
        /// receiving side read it.
        time: String,
    },
    /// An SMS (from the API's queue, or MQTT's `sms/send`) was accepted by the network.
    SmsSent {
        /// The queue's id of the message.
        sms_id: String,
        /// The recipient.
        to: String,
        /// The parts sent.
        parts: usize,
    },
    /// An SMS failed for good.
    SmsFailed {
        /// The queue's id of the message.
        sms_id: String,
        /// The recipient.
        to: String,
        /// Why.
        error: String,
    },
    /// The modem stopped answering, or its port vanished.
    ModemLost {
        /// What was seen.
        why: String,
    },
    /// The supervisor began a step to bring the modem back (`reopen`, `modem_reset`,
    /// `usb_reset`), bounded to `bound_s`.
    RecoveryStep {
        /// The step.
        step: crate::fleet::supervisor::Step,
        /// Its bound in seconds.
        bound_s: u64,
    },
    /// The supervisor skipped a step that cannot apply.
    RecoveryStepSkipped {
        /// The step.
        step: crate::fleet::supervisor::Step,
        /// Why.
        why: String,
    },
    /// The modem answers again.
    ModemBack {
        /// The step that brought it back.
        step: crate::fleet::supervisor::Step,
        /// Since the loss, in milliseconds.
        after_ms: u64,
    },
    /// Every step was spent: the bot ends and smstools gets the port back.
    ModemGone {
        /// Since the loss, in milliseconds.
        after_ms: u64,
    },
}

impl EventKind {
    /// The `type` of the JSON.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::Ringing { .. } => "ringing",
            EventKind::CallerIdentified { .. } => "caller_identified",
            EventKind::Answered { .. } => "answered",
            EventKind::Dtmf { .. } => "dtmf",
            EventKind::Ended { .. } => "ended",
            EventKind::Missed { .. } => "missed",
            EventKind::SmsReceived { .. } => "sms_received",
            EventKind::SmsSent { .. } => "sms_sent",
            EventKind::SmsFailed { .. } => "sms_failed",
            EventKind::ModemLost { .. } => "modem_lost",
            EventKind::RecoveryStep { .. } => "recovery_step",
            EventKind::RecoveryStepSkipped { .. } => "recovery_step_skipped",
            EventKind::ModemBack { .. } => "modem_back",
            EventKind::ModemGone { .. } => "modem_gone",
            EventKind::Dialing { .. } => "dialing",
            EventKind::OutgoingRinging { .. } => "ringing",
            EventKind::OutgoingAnswered { .. } => "answered",
            EventKind::Busy { .. } => "busy",
            EventKind::NoAnswer { .. } => "no_answer",
            EventKind::Failed { .. } => "failed",
            EventKind::OutgoingEnded { .. } => "ended",
        }
    }

    /// Whether this event closes its call.
    pub fn ends_call(&self) -> bool {
        matches!(
            self,
            EventKind::Ended { .. }
                | EventKind::Missed { .. }
                | EventKind::Busy { .. }
                | EventKind::NoAnswer { .. }
                | EventKind::Failed { .. }
                | EventKind::OutgoingEnded { .. }
        )
    }
}

/// Gives each call its id and turns call events into [`EventKind`]s. See the module doc.
#[derive(Debug, Default)]
pub struct CallNumbering {
    last: u64,
    open: Option<u64>,
    /// The number dialled, while the open call is one the bot made.
    dialled: Option<String>,
}

impl CallNumbering {
    /// No call yet; the first gets id 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// The call in progress, if any.
    pub fn current(&self) -> Option<u64> {
        self.open
    }

    /// The id for an event of the call in progress, opening a new call when there is none,
    /// or when a first ring says a new call began (the last one's end was never seen).
    fn id_for(&mut self, new_call: bool) -> u64 {
        match self.open {
            Some(id) if !new_call => id,
            _ => {
                self.last = self.last.saturating_add(1);
                self.open = Some(self.last);
                self.last
            }
        }
    }

    /// The call's id and what to publish for `event`.
    pub fn call_event(&mut self, event: &CallEvent) -> (u64, EventKind) {
        let kind = match event {
            CallEvent::Ringing { ring, caller } => {
                let (caller, caller_id) = caller_fields(caller);
                EventKind::Ringing {
                    caller,
                    caller_id,
                    ring: *ring,
                }
            }
            CallEvent::CallerIdentified { caller } => {
                let (caller, caller_id) = caller_fields(caller);
                EventKind::CallerIdentified { caller, caller_id }
            }
            CallEvent::Answered { caller, rings } => {
                let (caller, caller_id) = caller_fields(caller);
                EventKind::Answered {
                    caller,
                    caller_id,
                    rings: *rings,
                }
            }
            CallEvent::Dtmf { key } => EventKind::Dtmf {
                key: key.as_char().to_string(),
            },
            CallEvent::Dialing { number } => {
                self.dialled = Some(number.as_str().to_owned());
                EventKind::Dialing {
                    to: number.as_str().to_owned(),
                }
            }
            CallEvent::Alerting { number } => EventKind::OutgoingRinging {
                to: number.as_str().to_owned(),
            },
            CallEvent::Connected { number } => EventKind::OutgoingAnswered {
                to: number.as_str().to_owned(),
            },
            CallEvent::DialFailed { number, reason } => {
                let to = number.as_str().to_owned();
                match reason {
                    modem_core::call::DialFailure::Busy => EventKind::Busy { to },
                    modem_core::call::DialFailure::NoAnswer => EventKind::NoAnswer { to },
                    other => EventKind::Failed {
                        to,
                        reason: dial_end_of(*other),
                    },
                }
            }
            CallEvent::Ended {
                duration_s, reason, ..
            } if self.open.is_some() && self.dialled.is_some() => EventKind::OutgoingEnded {
                to: self.dialled.clone().unwrap_or_default(),
                duration_s: *duration_s,
                reason: end_of(*reason),
            },
            CallEvent::Ended {
                caller,
                duration_s,
                reason,
            } => {
                let (caller, caller_id) = caller_fields(caller);
                EventKind::Ended {
                    caller,
                    caller_id,
                    duration_s: *duration_s,
                    reason: end_of(*reason),
                }
            }
            CallEvent::Missed {
                caller,
                rings,
                reason,
            } => {
                let (caller, caller_id) = caller_fields(caller);
                EventKind::Missed {
                    caller,
                    caller_id,
                    rings: *rings,
                    reason: miss_of(*reason),
                }
            }
        };
        let new_call = matches!(
            event,
            CallEvent::Ringing { ring: 1, .. } | CallEvent::Dialing { .. }
        );
        if matches!(event, CallEvent::Ringing { ring: 1, .. }) {
            self.dialled = None;
        }
        let id = self.id_for(new_call);
        if kind.ends_call() {
            self.open = None;
            self.dialled = None;
        }
        (id, kind)
    }

    /// The modem was lost with a call in progress: the end to publish for the call log's
    /// `record` of it, or `None` when no call is open (its end was published already).
    pub fn call_lost(&mut self, record: &CallRecord) -> Option<(u64, EventKind)> {
        let id = self.open.take()?;
        self.dialled = None;
        let kind = if let Some(to) = record.to.clone() {
            if record.answered {
                EventKind::OutgoingEnded {
                    to,
                    duration_s: record.duration_s,
                    reason: record.end,
                }
            } else {
                EventKind::Failed {
                    to,
                    reason: record.end,
                }
            }
        } else if record.answered {
            EventKind::Ended {
                caller: record.caller.clone(),
                caller_id: record.caller_id,
                duration_s: record.duration_s,
                reason: record.end,
            }
        } else {
            EventKind::Missed {
                caller: record.caller.clone(),
                caller_id: record.caller_id,
                rings: record.rings,
                reason: record.end,
            }
        };
        Some((id, kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use modem_core::call::{Caller, EndReason, MissReason};
    use modem_core::urc::{DtmfKey, PhoneNumber};

    fn number(n: &str) -> Caller {
        Caller::Number(PhoneNumber::try_from(n).unwrap())
    }

    #[test]
    fn every_event_of_one_call_carries_its_id_and_the_next_call_gets_a_new_one() {
        let mut calls = CallNumbering::new();
        let caller = number("+491761234567");
        let script = [
            CallEvent::Ringing {
                ring: 1,
                caller: Caller::Unknown,
            },
            CallEvent::CallerIdentified {
                caller: caller.clone(),
            },
            CallEvent::Ringing {
                ring: 2,
                caller: caller.clone(),
            },
            CallEvent::Answered {
                caller: caller.clone(),
                rings: 2,
            },
            CallEvent::Dtmf {
                key: DtmfKey::from_ascii(b'#').unwrap(),
            },
            CallEvent::Ended {
                caller: caller.clone(),
                duration_s: 12,
                reason: EndReason::CallerHungUp,
            },
        ];
        let ids: Vec<u64> = script.iter().map(|e| calls.call_event(e).0).collect();
        assert_eq!(ids, [1; 6]);
        assert_eq!(calls.current(), None);
        let (id, kind) = calls.call_event(&CallEvent::Missed {
            caller: Caller::Withheld,
            rings: 0,
            reason: MissReason::ModemReported,
        });
        assert_eq!(
            id, 2,
            "a call seen only by its MISSED_CALL is a call of its own"
        );
        assert_eq!(kind.type_name(), "missed");
    }

    #[test]
    fn a_first_ring_after_an_end_that_never_came_opens_a_new_call() {
        let mut calls = CallNumbering::new();
        let ring = |ring| CallEvent::Ringing {
            ring,
            caller: Caller::Unknown,
        };
        assert_eq!(calls.call_event(&ring(1)).0, 1);
        assert_eq!(calls.call_event(&ring(2)).0, 1);
        assert_eq!(calls.call_event(&ring(1)).0, 2);
    }

    #[test]
    fn the_json_of_a_ringing_withheld_call_names_its_type_and_why_no_number_and_its_call_as_a_string()
     {
        let event = Event {
            id: 7,
            at: "2026-11-24T06:00:00.123Z".into(),
            call_id: Some(3),
            kind: CallNumbering::new()
                .call_event(&CallEvent::Ringing {
                    ring: 1,
                    caller: Caller::Withheld,
                })
                .1,
        };
        let json: serde_json::Value = serde_json::from_str(&event.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": 7, "at": "2026-11-24T06:00:00.123Z", "call_id": "3",
                "type": "ringing", "caller": null, "caller_id": "withheld", "ring": 1
            })
        );
    }

    #[test]
    fn an_ended_call_says_its_duration_and_reason_in_the_call_logs_words() {
        let (_, kind) = CallNumbering::new().call_event(&CallEvent::Ended {
            caller: number("+4930123456"),
            duration_s: 42,
            reason: EndReason::CallerHungUp,
        });
        let json = serde_json::to_value(&kind).unwrap();
        assert_eq!(json["type"], "ended");
        assert_eq!(json["duration_s"], 42);
        assert_eq!(json["reason"], "caller_hung_up");
        assert_eq!(json["caller"], "+4930123456");
    }

    #[test]
    fn a_dtmf_key_is_a_one_character_string() {
        let (_, kind) = CallNumbering::new().call_event(&CallEvent::Dtmf {
            key: DtmfKey::from_ascii(b'*').unwrap(),
        });
        assert_eq!(
            serde_json::to_value(&kind).unwrap(),
            serde_json::json!({"type": "dtmf", "key": "*"})
        );
    }

    #[test]
    fn a_call_lost_with_the_modem_ends_once_with_the_logs_reason() {
        let mut calls = CallNumbering::new();
        calls.call_event(&CallEvent::Answered {
            caller: number("+4930123456"),
            rings: 3,
        });
        let record = CallRecord {
            to: None,
            started_at: "T0".into(),
            ended_at: "T1".into(),
            caller: Some("+4930123456".into()),
            caller_id: CallerIdKind::Number,
            rings: 3,
            answered: true,
            duration_s: 0,
            end: CallEnd::ModemLost,
        };
        let (id, kind) = calls.call_lost(&record).unwrap();
        assert_eq!(id, 1);
        assert!(matches!(
            kind,
            EventKind::Ended {
                reason: CallEnd::ModemLost,
                ..
            }
        ));
        assert!(calls.call_lost(&record).is_none(), "ended once");
    }

    #[test]
    fn an_sms_has_no_call() {
        let kind = EventKind::SmsReceived {
            from: "+491761234567".into(),
            text: "Hallo".into(),
            time: "2026-11-24T05:59:58+01:00".into(),
        };
        assert!(!kind.ends_call());
        let json = serde_json::to_value(&kind).unwrap();
        assert_eq!(json["type"], "sms_received");
        assert_eq!(json["from"], "+491761234567");
    }

    #[test]
    fn a_dialled_call_has_its_own_id_and_its_events_name_the_number_dialled() {
        use modem_core::call::DialFailure;
        let to = modem_core::urc::PhoneNumber::try_from("+491761234567").unwrap();
        let mut calls = CallNumbering::new();
        let json = |(id, kind): (u64, EventKind)| {
            let event = Event {
                id: 1,
                at: "T".into(),
                call_id: Some(id),
                kind,
            };
            serde_json::to_value(&event).unwrap()
        };
        let dialing = json(calls.call_event(&CallEvent::Dialing { number: to.clone() }));
        assert_eq!(dialing["type"], "dialing");
        assert_eq!(dialing["to"], "+491761234567");
        assert_eq!(dialing["call_id"], "1");
        let ringing = json(calls.call_event(&CallEvent::Alerting { number: to.clone() }));
        assert_eq!(
            (ringing["type"].as_str(), ringing["call_id"].as_str()),
            (Some("ringing"), Some("1"))
        );
        let answered = json(calls.call_event(&CallEvent::Connected { number: to.clone() }));
        assert_eq!(answered["type"], "answered");
        let ended = json(calls.call_event(&CallEvent::Ended {
            caller: modem_core::call::Caller::Number(to.clone()),
            duration_s: 7,
            reason: modem_core::call::EndReason::CallerHungUp,
        }));
        assert_eq!(ended["type"], "ended");
        assert_eq!(ended["to"], "+491761234567");
        assert!(ended.get("caller").is_none(), "{ended}");
        assert_eq!(calls.current(), None);
        for (reason, kind) in [
            (DialFailure::Busy, "busy"),
            (DialFailure::NoAnswer, "no_answer"),
            (DialFailure::Failed, "failed"),
            (DialFailure::Cancelled, "failed"),
        ] {
            calls.call_event(&CallEvent::Dialing { number: to.clone() });
            let end = json(calls.call_event(&CallEvent::DialFailed {
                number: to.clone(),
                reason,
            }));
            assert_eq!(end["type"], kind);
            assert_eq!(calls.current(), None);
        }
        // The next incoming call is an incoming call again.
        calls.call_event(&CallEvent::Ringing {
            ring: 1,
            caller: modem_core::call::Caller::Unknown,
        });
        let ended = json(calls.call_event(&CallEvent::Ended {
            caller: modem_core::call::Caller::Unknown,
            duration_s: 1,
            reason: modem_core::call::EndReason::CallerHungUp,
        }));
        assert!(ended.get("to").is_none(), "{ended}");
    }
}
