//! The bot as a telephony provider for AI agents: each answered call (incoming, or one
//! the bot dialled) is streamed to the agent named by `[agent] stream_url` over a
//! WebSocket speaking Twilio Media Streams ([`twilio`]), the caller's audio as µ-law
//! ([`mulaw`]) and the agent's audio played back into the call ([`stream`]).
//!
//! Why a thread with tungstenite rather than tokio-tungstenite on the API's runtime: there
//! is one call at a time, the call's audio (the paced writer, the listener) already runs on
//! plain threads with blocking channels, and the API's one-thread runtime stays free for
//! the API: a slow agent or a TLS handshake can never delay an HTTP answer, and the media
//! path has no async code between the audio port and the socket.

pub mod mulaw;
pub mod rest;
pub mod stream;
pub mod twilio;

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::bot::BotState;
use crate::events::{Overflow, Recv};

/// How long an agent's WebSocket may take to connect (TCP, TLS and the upgrade).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `[agent]`: where answered calls are streamed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentSettings {
    /// The agent's WebSocket (`ws://` or `wss://`); none: calls are not streamed.
    pub stream_url: Option<String>,
    /// Hang the call up when the agent closes the socket.
    pub hangup_on_close: bool,
    /// Played when the agent cannot be reached or drops mid-call, before hanging up: a
    /// WAV file (a path ending in `.wav`), else a text spoken by `[audio] tts`.
    pub fallback: Option<String>,
    /// The `accountSid` the stream's `start` carries; none: one made up at start.
    pub account_sid: Option<String>,
    /// Without a stream URL: POST the call's form fields here (`http://`) and follow the
    /// TwiML answer, as Twilio's voice webhook does.
    pub voice_url: Option<String>,
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            stream_url: None,
            hangup_on_close: true,
            fallback: None,
            account_sid: None,
            voice_url: None,
        }
    }
}

/// An `[agent]` value that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum AgentSettingsError {
    /// `stream_url` is not a WebSocket URL.
    #[error("[agent] stream_url {0:?} is not a ws:// or wss:// URL")]
    StreamUrl(String),
    /// `voice_url` is not an `http://` URL.
    #[error("[agent] voice_url {0:?} is not an http:// URL")]
    VoiceUrl(String),
    /// `account_sid` is not `AC` and 32 hex digits.
    #[error("[agent] account_sid {0:?} is not AC followed by 32 hex digits")]
    AccountSid(String),
    /// The fallback WAV does not exist.
    #[error("[agent] fallback {0}: the WAV file does not exist")]
    Fallback(PathBuf),
}

impl AgentSettings {
    /// Checks the values.
    pub fn check(&self) -> Result<(), AgentSettingsError> {
        if let Some(url) = &self.stream_url {
            let ws = url.starts_with("ws://") || url.starts_with("wss://");
            if !ws || url.parse::<tungstenite::http::Uri>().is_err() {
                return Err(AgentSettingsError::StreamUrl(url.clone()));
            }
        }
        if let Some(url) = &self.voice_url {
            if !url.starts_with("http://") || url.parse::<tungstenite::http::Uri>().is_err() {
                return Err(AgentSettingsError::VoiceUrl(url.clone()));
            }
        }
        if let Some(sid) = &self.account_sid {
            let ok = sid.len() == 34
                && sid.starts_with("AC")
                && sid[2..].bytes().all(|b| b.is_ascii_hexdigit());
            if !ok {
                return Err(AgentSettingsError::AccountSid(sid.clone()));
            }
        }
        if let Some(path) = self.fallback_wav() {
            if !path.exists() {
                return Err(AgentSettingsError::Fallback(path));
            }
        }
        Ok(())
    }

    /// The fallback as a WAV file, when it names one.
    pub fn fallback_wav(&self) -> Option<PathBuf> {
        self.fallback
            .as_ref()
            .filter(|f| f.to_ascii_lowercase().ends_with(".wav"))
            .map(PathBuf::from)
    }
}

/// What the supervisor tells a running stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallNews {
    /// The caller pressed a key.
    Dtmf(String),
    /// The call ended.
    Ended,
}

/// The thread that starts a stream for every answered call and feeds it the call's keys
/// and end, from the event bus.
#[derive(Debug)]
pub struct Agents {
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Agents {
    /// Starts the supervisor: a call is streamed to the `stream_url` its `POST /calls`
    /// named, else to `[agent] stream_url`, else not at all.
    pub fn start(
        state: &BotState,
        settings: &AgentSettings,
        tts: Option<crate::audio::TtsCommand>,
    ) -> std::io::Result<Option<Agents>> {
        let default_url = settings.stream_url.clone();
        let subscription = state.events().subscribe("agent", 256, Overflow::DropOldest);
        let state = state.clone();
        let settings = settings.clone();
        let account_sid = settings
            .account_sid
            .clone()
            .unwrap_or_else(|| twilio::new_sid("AC"));
        let thread = std::thread::Builder::new()
            .name("agent".into())
            .spawn(move || {
                let mut current: Option<(String, mpsc::Sender<CallNews>)> = None;
                loop {
                    let event = match subscription.recv_timeout(Duration::from_secs(1)) {
                        Recv::Event(e) => e,
                        Recv::Timeout => continue,
                        Recv::Closed => return,
                    };
                    let call_id = event.call_id.map(crate::events::model::call_id_text);
                    let json: serde_json::Value =
                        serde_json::from_str(&event.to_json()).unwrap_or_default();
                    let same_call =
                        |c: &Option<(String, mpsc::Sender<CallNews>)>| match (c, &call_id) {
                            (Some((id, _)), Some(e)) => id == e,
                            _ => false,
                        };
                    match event.type_name() {
                        "answered" => {
                            let asked = event.call_id.and_then(|id| state.take_call_plan(id));
                            let plan = asked.or_else(|| {
                                default_url.clone().map(|url| {
                                    vec![crate::calls::twiml::Verb::Stream {
                                        url,
                                        parameters: Vec::new(),
                                    }]
                                })
                            });
                            if plan.is_none() && settings.voice_url.is_none() {
                                continue;
                            }
                            let parties = parties_of(&json);
                            let (tx, rx) = mpsc::channel();
                            let session = stream::Session {
                                state: state.clone(),
                                plan,
                                voice_url: settings.voice_url.clone(),
                                hangup_on_close: settings.hangup_on_close,
                                fallback: settings.fallback.clone(),
                                tts: tts.clone(),
                                account_sid: account_sid.clone(),
                                parties,
                                news: rx,
                                call_id: event.call_id,
                                documents_fetched: std::cell::Cell::new(0),
                            };
                            let spawned = std::thread::Builder::new()
                                .name("agent-stream".into())
                                .spawn(move || session.run());
                            match spawned {
                                Ok(_) => current = call_id.map(|id| (id, tx)),
                                Err(e) => log::error!("agent stream: cannot start a thread: {e}"),
                            }
                        }
                        "dtmf" if same_call(&current) => {
                            if let (Some((_, tx)), Some(key)) = (&current, json["key"].as_str()) {
                                let _ = tx.send(CallNews::Dtmf(key.to_owned()));
                            }
                        }
                        _ if event.kind.ends_call() && same_call(&current) => {
                            if let Some((_, tx)) = current.take() {
                                let _ = tx.send(CallNews::Ended);
                            }
                        }
                        _ => {}
                    }
                }
            })?;
        Ok(Some(Agents {
            thread: Some(thread),
        }))
    }

    /// Waits for the supervisor to end (the bus closes when the bot stops).
    pub fn shutdown(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// From, To and the direction of an `answered` event.
fn parties_of(event: &serde_json::Value) -> twilio::CallParties {
    let text = |k: &str| event[k].as_str().unwrap_or_default().to_owned();
    match event.get("to").and_then(|t| t.as_str()) {
        Some(to) => twilio::CallParties {
            from: String::new(),
            to: to.to_owned(),
            direction: "outbound-api",
        },
        None => twilio::CallParties {
            from: text("caller"),
            to: String::new(),
            direction: "inbound",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_that_cannot_work_are_refused_naming_the_key() {
        let ok = AgentSettings {
            stream_url: Some("wss://agent.example.org/media".into()),
            ..AgentSettings::default()
        };
        assert!(ok.check().is_ok());
        assert!(AgentSettings::default().hangup_on_close);
        for (settings, needle) in [
            (
                AgentSettings {
                    stream_url: Some("http://agent/".into()),
                    ..AgentSettings::default()
                },
                "stream_url",
            ),
            (
                AgentSettings {
                    account_sid: Some("AC12".into()),
                    ..AgentSettings::default()
                },
                "account_sid",
            ),
            (
                AgentSettings {
                    fallback: Some("/nonexistent/sorry.wav".into()),
                    ..AgentSettings::default()
                },
                "fallback",
            ),
        ] {
            let e = settings.check().unwrap_err().to_string();
            assert!(e.contains(needle) && e.contains("[agent]"), "{e}");
        }
        // As the `[agent]` table of config.toml is read.
        let toml: AgentSettings =
            toml::from_str("stream_url = \"ws://127.0.0.1:9/\"\nhangup_on_close = false\n")
                .unwrap();
        assert!(!toml.hangup_on_close);
        assert!(toml::from_str::<AgentSettings>("streamurl = \"x\"\n").is_err());
    }
}
