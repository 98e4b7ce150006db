//! One call's media stream: the WebSocket to the agent, the caller's audio out every 20 ms,
//! the agent's audio into the call through the call's paced writer, marks echoed once
//! played, `clear`, the call's end (`stop`, close) and the agent's end (hang up, or the
//! fallback then hang up when the socket fails).

use std::collections::VecDeque;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration, Instant};

use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use super::twilio::{
    AgentMessage, CallParties, MEDIA_BYTES, StreamWriter, new_sid, parse_agent_message,
};
use super::{CONNECT_TIMEOUT, CallNews, mulaw};
use crate::audio::{CallAudio, CallFormat, Clip, ClipId};
use crate::bot::BotState;

/// How long the stream waits for the call's audio to run after the answer.
pub const AUDIO_WAIT: Duration = Duration::from_secs(5);
/// How long one read of the socket waits: the loop's tick.
pub const READ_TICK: Duration = Duration::from_millis(2);
/// The jitter buffer: the agent's audio is played once this much has arrived (or
/// [`JITTER_WAIT`] passed since its first byte), so that a late packet does not leave a gap.
pub const JITTER_BYTES: usize = 2 * MEDIA_BYTES;
/// The longest the jitter buffer holds audio back.
pub const JITTER_WAIT: Duration = Duration::from_millis(20);

/// Why a stream could not run.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The URL or the address is unusable.
    #[error("agent {url}: {problem}")]
    Address {
        /// The URL.
        url: String,
        /// What is wrong.
        problem: String,
    },
    /// The WebSocket did not open.
    #[error("agent {url}: cannot connect: {problem}")]
    Connect {
        /// The URL.
        url: String,
        /// What failed.
        problem: String,
    },
}

/// Everything a stream needs (the supervisor builds it on `answered`).
#[derive(Debug)]
pub struct Session {
    pub(super) state: BotState,
    /// What to do (a stream, TwiML's verbs); `None`: ask `voice_url`.
    pub(super) plan: Option<crate::bot::state::CallPlan>,
    /// `[agent] voice_url`.
    pub(super) voice_url: Option<String>,
    pub(super) hangup_on_close: bool,
    pub(super) fallback: Option<String>,
    pub(super) tts: Option<crate::audio::TtsCommand>,
    pub(super) account_sid: String,
    pub(super) parties: CallParties,
    pub(super) news: Receiver<CallNews>,
    /// The bot's id of the call (its `CallSid` follows from it).
    pub(super) call_id: Option<u64>,
    /// TwiML documents fetched for this call so far (voice URL and redirects).
    pub(super) documents_fetched: std::cell::Cell<u32>,
}

/// The most TwiML documents one call fetches (a `<Redirect>` loop ends there).
pub const MAX_TWIML_DOCUMENTS: u32 = 16;

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// Opens the WebSocket at `url` within [`CONNECT_TIMEOUT`] (TLS for `wss://` with the
/// system's roots).
pub fn connect(url: &str) -> Result<Socket, StreamError> {
    let uri: tungstenite::http::Uri = url.parse().map_err(|e| StreamError::Address {
        url: url.to_owned(),
        problem: format!("{e}"),
    })?;
    let host = uri.host().unwrap_or_default();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("wss") {
            443
        } else {
            80
        });
    let address = (host, port)
        .to_socket_addrs()
        .map_err(|e| StreamError::Address {
            url: url.to_owned(),
            problem: format!("cannot resolve {host}: {e}"),
        })?
        .next()
        .ok_or_else(|| StreamError::Address {
            url: url.to_owned(),
            problem: format!("{host} has no address"),
        })?;
    let connect_error = |problem: String| StreamError::Connect {
        url: url.to_owned(),
        problem,
    };
    let tcp = TcpStream::connect_timeout(&address, CONNECT_TIMEOUT)
        .map_err(|e| connect_error(e.to_string()))?;
    tcp.set_read_timeout(Some(CONNECT_TIMEOUT))
        .and_then(|()| tcp.set_write_timeout(Some(CONNECT_TIMEOUT)))
        .and_then(|()| tcp.set_nodelay(true))
        .map_err(|e| connect_error(e.to_string()))?;
    let (socket, _) =
        tungstenite::client_tls(url, tcp).map_err(|e| connect_error(e.to_string()))?;
    let tcp = match socket.get_ref() {
        MaybeTlsStream::Plain(s) => s,
        MaybeTlsStream::Rustls(s) => &s.sock,
        _ => return Err(connect_error("an unexpected stream type".into())),
    };
    tcp.set_read_timeout(Some(READ_TICK))
        .map_err(|e| connect_error(e.to_string()))?;
    Ok(socket)
}

/// The caller's 20 ms frame (16-bit little-endian PCM in the call's format) as 160 bytes
/// of µ-law at 8 kHz (a 16 kHz frame is averaged pairwise).
pub fn frame_to_mulaw(frame: &[u8], format: CallFormat) -> Vec<u8> {
    let samples: Vec<i16> = frame
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    if format.sample_rate() == 16_000 {
        samples
            .chunks(2)
            .map(|p| {
                let sum: i32 = p.iter().map(|&s| i32::from(s)).sum();
                mulaw::encode((sum / p.len().max(1) as i32) as i16)
            })
            .collect()
    } else {
        samples.into_iter().map(mulaw::encode).collect()
    }
}

/// The agent's µ-law at 8 kHz as samples in the call's format (16 kHz: linear
/// interpolation between neighbours).
pub fn mulaw_to_samples(bytes: &[u8], format: CallFormat) -> Vec<i16> {
    let narrow: Vec<i16> = bytes.iter().map(|&b| mulaw::decode(b)).collect();
    if format.sample_rate() != 16_000 {
        return narrow;
    }
    let mut wide = Vec::with_capacity(narrow.len() * 2);
    for (i, &s) in narrow.iter().enumerate() {
        let next = narrow.get(i + 1).copied().unwrap_or(s);
        wide.push(s);
        wide.push(((i32::from(s) + i32::from(next)) / 2) as i16);
    }
    wide
}

/// How the loop ended.
enum End {
    /// The call ended: `stop` and close.
    CallEnded,
    /// The agent closed the socket.
    AgentClosed,
    /// The socket failed mid-call.
    Dropped(String),
}

impl Session {
    /// Runs the stream (or the voice webhook's TwiML) until the call or the agent ends it.
    pub fn run(self) {
        let Some(audio) = self.wait_for_audio() else {
            return;
        };
        match (&self.plan, &self.voice_url) {
            (Some(plan), _) => self.carry_out(plan.clone(), "the call's request", &audio),
            (None, Some(voice_url)) => self.follow_voice_url(voice_url, &audio),
            (None, None) => {}
        }
    }

    /// POSTs the call's form fields to `voice_url` and carries out the TwiML answer.
    fn follow_voice_url(&self, voice_url: &str, audio: &CallAudio) {
        let fetched = self.documents_fetched.get() + 1;
        self.documents_fetched.set(fetched);
        if fetched > MAX_TWIML_DOCUMENTS {
            log::error!(
                "agent: {voice_url}: more than {MAX_TWIML_DOCUMENTS} TwiML documents for one \
                 call (a <Redirect> loop?): hanging up"
            );
            self.state.hang_up();
            return;
        }
        let call_sid = self
            .call_id
            .map_or_else(|| new_sid("CA"), super::twilio::call_sid);
        let fields = [
            ("CallSid", call_sid.as_str()),
            ("AccountSid", self.account_sid.as_str()),
            ("From", self.parties.from.as_str()),
            ("To", self.parties.to.as_str()),
            ("Direction", self.parties.direction),
            ("CallStatus", "in-progress"),
        ];
        let body: String = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", super::rest::form_escape(v)))
            .collect::<Vec<_>>()
            .join("&");
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .timeout_global(Some(CONNECT_TIMEOUT))
                .build(),
        );
        let twiml = agent
            .post(voice_url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(body.as_bytes())
            .map_err(|e| e.to_string())
            .and_then(|mut r| r.body_mut().read_to_string().map_err(|e| e.to_string()));
        let verbs = match twiml.map(|t| crate::calls::twiml::parse(&t).map_err(|e| e.to_string())) {
            Ok(Ok(verbs)) => verbs,
            Ok(Err(e)) | Err(e) => {
                log::error!(
                    "agent voice_url {voice_url}: {e}: playing the fallback and hanging up"
                );
                self.fall_back(audio);
                return;
            }
        };
        self.carry_out(verbs, voice_url, audio);
    }

    /// Carries out TwiML's verbs in order (`from` names where they came from, for the log);
    /// the end of them hangs up, as with Twilio.
    fn carry_out(&self, verbs: Vec<crate::calls::twiml::Verb>, from: &str, audio: &CallAudio) {
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .timeout_global(Some(CONNECT_TIMEOUT))
                .build(),
        );
        for verb in verbs {
            match verb {
                crate::calls::twiml::Verb::Stream { url, parameters } => {
                    self.stream(&url, &parameters, audio);
                    return;
                }
                crate::calls::twiml::Verb::Say(text) => {
                    let clip = self
                        .tts
                        .as_ref()
                        .map(|t| t.synthesize(&text, audio.format()));
                    match clip {
                        Some(Ok(clip)) => {
                            if !self.play_to_end(audio, clip) {
                                return;
                            }
                        }
                        Some(Err(e)) => log::warn!("TwiML <Say>: {e}"),
                        None => log::warn!("TwiML <Say>: no [audio] tts"),
                    }
                }
                crate::calls::twiml::Verb::Play(url) => {
                    let wav = agent
                        .get(url.as_str())
                        .call()
                        .map_err(|e| e.to_string())
                        .and_then(|mut r| {
                            r.body_mut()
                                .with_config()
                                .limit(32 * 1024 * 1024)
                                .read_to_vec()
                                .map_err(|e| e.to_string())
                        })
                        .and_then(|bytes| {
                            crate::audio::decode_wav(&bytes, &url, audio.format())
                                .map_err(|e| e.to_string())
                        });
                    match wav {
                        Ok(clip) => {
                            if !self.play_to_end(audio, clip) {
                                return;
                            }
                        }
                        Err(e) => log::warn!("TwiML <Play> {url}: {e}"),
                    }
                }
                crate::calls::twiml::Verb::Pause(seconds) => {
                    let until = Instant::now() + Duration::from_secs(u64::from(seconds));
                    while Instant::now() < until {
                        if let Ok(CallNews::Ended) = self.news.try_recv() {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                crate::calls::twiml::Verb::Hangup => break,
                crate::calls::twiml::Verb::Redirect(url) => {
                    // What follows the redirect is not carried out, as with Twilio.
                    self.follow_voice_url(&url, audio);
                    return;
                }
                crate::calls::twiml::Verb::Refused(name) => {
                    log::warn!("TwiML <{name}> from {from} is not supported: skipped")
                }
            }
        }
        // The end of the document ends the call, as with Twilio.
        self.state.hang_up();
    }

    /// Plays `clip` and waits for its end; `false` when the call ended meanwhile.
    fn play_to_end(&self, audio: &CallAudio, clip: Clip) -> bool {
        let until = Instant::now() + clip.duration() + Duration::from_secs(1);
        if audio.play(clip).is_err() {
            return false;
        }
        while Instant::now() < until {
            let q = audio.writer_status().queue;
            if q.playing.is_none() && q.queued == 0 {
                return true;
            }
            if let Ok(CallNews::Ended) = self.news.try_recv() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// The stream to `url` until the call or the agent ends it.
    fn stream(&self, url: &str, parameters: &[(String, String)], audio: &CallAudio) {
        let mut socket = match connect(url) {
            Ok(s) => s,
            Err(e) => {
                log::error!("{e}: playing the fallback and hanging up");
                self.fall_back(audio);
                return;
            }
        };
        log::info!("agent stream to {url} open");
        let end = self.serve(&mut socket, audio, parameters);
        match end {
            End::CallEnded => log::info!("agent stream: the call ended, stream stopped"),
            End::AgentClosed => {
                log::info!("agent stream: the agent closed the stream");
                if self.hangup_on_close {
                    self.state.hang_up();
                }
            }
            End::Dropped(why) => {
                log::error!("agent stream to {url} dropped: {why}");
                self.fall_back(audio);
            }
        }
    }

    /// The call's audio once it runs; `None` when the call ended first or has none.
    fn wait_for_audio(&self) -> Option<Arc<CallAudio>> {
        let started = Instant::now();
        loop {
            if let Some(audio) = self.state.call_audio() {
                return Some(audio);
            }
            match self.news.try_recv() {
                Ok(CallNews::Ended) | Err(TryRecvError::Disconnected) => return None,
                Ok(CallNews::Dtmf(_)) | Err(TryRecvError::Empty) => {}
            }
            if started.elapsed() > AUDIO_WAIT {
                log::error!(
                    "agent stream: the call has no audio after {AUDIO_WAIT:?} (is [audio] \
                     enabled?): not streamed"
                );
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Plays `[agent] fallback` (if any) to its end, then hangs up.
    fn fall_back(&self, audio: &CallAudio) {
        let clip = match &self.fallback {
            None => None,
            Some(f) if f.to_ascii_lowercase().ends_with(".wav") => {
                crate::audio::load_wav(std::path::Path::new(f), audio.format())
                    .inspect_err(|e| log::error!("agent fallback: {e}"))
                    .ok()
            }
            Some(text) => match &self.tts {
                Some(tts) => tts
                    .synthesize(text, audio.format())
                    .inspect_err(|e| log::error!("agent fallback: {e}"))
                    .ok(),
                None => {
                    log::error!("agent fallback: a text needs [audio] tts");
                    None
                }
            },
        };
        if let Some(clip) = clip {
            let length = clip.duration();
            if audio.play(clip).is_ok() {
                let until = Instant::now() + length + Duration::from_secs(1);
                while Instant::now() < until {
                    let q = audio.writer_status().queue;
                    if q.playing.is_none() && q.queued == 0 {
                        break;
                    }
                    if let Ok(CallNews::Ended) = self.news.try_recv() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        self.state.hang_up();
    }

    fn serve(
        &self,
        socket: &mut Socket,
        audio: &CallAudio,
        parameters: &[(String, String)],
    ) -> End {
        let format = audio.format();
        let call_sid = self
            .call_id
            .map_or_else(|| new_sid("CA"), super::twilio::call_sid);
        let mut writer = StreamWriter::new(call_sid, self.account_sid.clone());
        let caller = match audio.subscribe() {
            Ok(rx) => rx,
            Err(e) => return End::Dropped(format!("cannot hear the call: {e}")),
        };
        let started = Instant::now();
        let connected = writer.connected();
        let start = writer.start(&self.parties, parameters);
        if let Err(e) = send(socket, connected).and_then(|()| send(socket, start)) {
            return End::Dropped(e);
        }
        let mut sent_ms: u64 = 0;
        let mut pending: Vec<u8> = Vec::new();
        let mut pending_since: Option<Instant> = None;
        let mut last_clip: Option<ClipId> = None;
        let mut marks: VecDeque<(String, Option<ClipId>)> = VecDeque::new();
        loop {
            // The caller's audio, as it comes (the listener's 20 ms frames).
            loop {
                match caller.try_recv() {
                    Ok(frame) => {
                        let mulaw = frame_to_mulaw(&frame, format);
                        let message = writer.media(&mulaw, sent_ms);
                        sent_ms += 20;
                        if let Err(e) = send(socket, message) {
                            return End::Dropped(e);
                        }
                    }
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        return self.stop(socket, &mut writer);
                    }
                }
            }
            match self.news.try_recv() {
                Ok(CallNews::Dtmf(key)) => {
                    let message = writer.dtmf(&key);
                    if let Err(e) = send(socket, message) {
                        return End::Dropped(e);
                    }
                }
                Ok(CallNews::Ended) | Err(TryRecvError::Disconnected) => {
                    return self.stop(socket, &mut writer);
                }
                Err(TryRecvError::Empty) => {}
            }
            // The agent's messages, waiting at most one tick.
            match socket.read() {
                Ok(Message::Text(text)) => match parse_agent_message(text.as_str()) {
                    Ok(AgentMessage::Media(bytes)) => {
                        pending_since.get_or_insert_with(Instant::now);
                        pending.extend_from_slice(&bytes);
                    }
                    Ok(AgentMessage::Mark(name)) => {
                        flush(
                            audio,
                            format,
                            &mut pending,
                            &mut pending_since,
                            &mut last_clip,
                        );
                        marks.push_back((name, last_clip));
                    }
                    Ok(AgentMessage::Clear) => {
                        pending.clear();
                        pending_since = None;
                        let _ = audio.stop();
                        while let Some((name, _)) = marks.pop_front() {
                            if let Err(e) = send(socket, writer.mark(&name)) {
                                return End::Dropped(e);
                            }
                        }
                    }
                    Err(e) => log::warn!("agent stream: {e}"),
                },
                Ok(Message::Close(_)) => return End::AgentClosed,
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(tungstenite::Error::ConnectionClosed) => return End::AgentClosed,
                Err(e) => return End::Dropped(e.to_string()),
            }
            let due = pending.len() >= JITTER_BYTES
                || pending_since.is_some_and(|t| t.elapsed() >= JITTER_WAIT);
            if due {
                flush(
                    audio,
                    format,
                    &mut pending,
                    &mut pending_since,
                    &mut last_clip,
                );
            }
            // Marks whose audio has been played (clips play in the order of their ids).
            let queue = audio.writer_status().queue;
            while let Some((name, clip)) = marks.front() {
                let played = match (clip, queue.playing) {
                    (None, _) => true,
                    (Some(c), Some(p)) => p.0 > c.0,
                    (Some(_), None) => queue.queued == 0,
                };
                if !played {
                    break;
                }
                let message = writer.mark(name);
                marks.pop_front();
                if let Err(e) = send(socket, message) {
                    return End::Dropped(e);
                }
            }
            let _ = started;
        }
    }

    /// The call ended: `stop`, then the close handshake (bounded by the socket's timeouts).
    fn stop(&self, socket: &mut Socket, writer: &mut StreamWriter) -> End {
        let _ = send(socket, writer.stop());
        let _ = socket.close(None);
        let until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < until {
            match socket.read() {
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
        End::CallEnded
    }
}

/// Plays what the jitter buffer holds as one clip.
fn flush(
    audio: &CallAudio,
    format: CallFormat,
    pending: &mut Vec<u8>,
    since: &mut Option<Instant>,
    last_clip: &mut Option<ClipId>,
) {
    *since = None;
    if pending.is_empty() {
        return;
    }
    let samples = mulaw_to_samples(pending, format);
    pending.clear();
    match audio.play(Clip::from_samples(format, samples)) {
        Ok(id) => *last_clip = Some(id),
        Err(e) => log::warn!("agent stream: cannot play the agent's audio: {e}"),
    }
}

fn send(socket: &mut Socket, text: String) -> Result<(), String> {
    socket.send(Message::text(text)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_frames_become_160_mulaw_bytes_and_agent_audio_fits_the_call() {
        let tone: Vec<u8> = (0..160)
            .map(|i| (((i as f64) * 0.785).sin() * 8000.0) as i16)
            .flat_map(i16::to_le_bytes)
            .collect();
        let mu = frame_to_mulaw(&tone, CallFormat::Narrowband);
        assert_eq!(mu.len(), 160);
        let back = mulaw_to_samples(&mu, CallFormat::Narrowband);
        assert_eq!(back.len(), 160);
        let wide: Vec<u8> = (0..320).flat_map(|_| 1000i16.to_le_bytes()).collect();
        assert_eq!(frame_to_mulaw(&wide, CallFormat::Wideband).len(), 160);
        assert_eq!(mulaw_to_samples(&mu, CallFormat::Wideband).len(), 320);
    }
}
