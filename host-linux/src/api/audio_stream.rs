//! `GET /calls/current/audio`: the caller's audio, live, as a chunked HTTP response of
//! raw PCM (`audio/L16;rate=8000;channels=1`, signed 16-bit little-endian mono as
//! `X-Audio-Format: s16le` says, `X-Audio-Rate` and `X-Audio-Channels` beside it).
//!
//! This module owns the response's headers ([`headers`], sans-I/O) and one client's
//! stream ([`AudioStream`]): once the route accepted the request, the API's server starts
//! it ([`start`]: a subscription to the call's audio, [`CallAudio::subscribe`]) and sends
//! every 20 ms frame as one chunk of the response body. No thread is spent on a client:
//! the stream looks at its subscription every [`FRAME_PERIOD`] on the server's timer.
//!
//! The body ends with the terminating chunk when the call ends (its audio closes and
//! the subscription with it). A client is dropped, never the call: the subscription's
//! queue holds one second; a client that falls further behind is dropped by the call's
//! reader and its response is cut off without the terminating chunk, so the client sees
//! a broken stream rather than a call that ended. The stream holds only a weak reference
//! to the call's audio (to tell the two apart), never the audio itself, and at most
//! [`MAX_STREAMS`] streams run at once (each also one of the API's connections).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Bytes;

use crate::audio::listener::{MAX_SUBSCRIBERS, SubscribeError};
use crate::audio::{CallAudio, CallFormat, CallerFrame};

/// The path.
pub const PATH: &str = "/calls/current/audio";
/// Streams at once (whatever call they belong to); one more is answered 503.
pub const MAX_STREAMS: usize = MAX_SUBSCRIBERS;
/// How often a stream looks for new frames: one frame's duration.
pub const FRAME_PERIOD: Duration = Duration::from_millis(20);

static STREAMS: AtomicUsize = AtomicUsize::new(0);

/// The body's type for a call in `format`.
pub fn content_type(format: CallFormat) -> String {
    format!("audio/L16;rate={};channels=1", format.sample_rate())
}

/// The response headers for a call in `format` (the chunking is the server's).
pub fn headers(format: CallFormat) -> Vec<(&'static str, String)> {
    let rate = format.sample_rate().to_string();
    vec![
        ("Content-Type", content_type(format)),
        ("X-Audio-Format", "s16le".to_owned()),
        ("X-Audio-Rate", rate),
        ("X-Audio-Channels", "1".to_owned()),
        ("Cache-Control", "no-cache".to_owned()),
        ("X-Accel-Buffering", "no".to_owned()),
        ("Connection", "close".to_owned()),
    ]
}

/// How a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The call's audio closed: the body ended properly.
    CallEnded,
    /// The subscription ended while the call's audio still exists: the client fell more
    /// than a second behind (or the audio port's reader failed). Cut off.
    Dropped,
    /// The client went away (the server dropped the stream).
    ClientGone,
}

impl StreamEnd {
    /// For the log.
    pub fn describe(self) -> &'static str {
        match self {
            StreamEnd::CallEnded => "the call ended",
            StreamEnd::Dropped => "the client fell behind (or the audio reader stopped)",
            StreamEnd::ClientGone => "the client went away",
        }
    }
}

/// Why a stream could not start.
#[derive(Debug, thiserror::Error)]
pub enum StreamRefusal {
    /// No call with audio.
    #[error("there is no connected call with audio to listen to")]
    NoCall,
    /// Too many streams.
    #[error("{0} audio streams are open already, the most allowed")]
    TooMany(usize),
    /// The call's audio refused the subscription.
    #[error("the call's audio refused a listener: {0}")]
    Subscribe(#[from] SubscribeError),
}

impl StreamRefusal {
    /// The HTTP status: 409 without a call (or a call whose audio just ended), 503 when
    /// full.
    pub fn status(&self) -> u16 {
        match self {
            StreamRefusal::NoCall | StreamRefusal::Subscribe(SubscribeError::Ended) => 409,
            StreamRefusal::TooMany(_) | StreamRefusal::Subscribe(SubscribeError::TooMany(_)) => 503,
        }
    }
}

/// Counts a stream while it lives.
#[derive(Debug)]
struct Slot;

impl Slot {
    fn take() -> Option<Slot> {
        let taken = STREAMS.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n < MAX_STREAMS).then_some(n + 1)
        });
        taken.ok().map(|_| Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        STREAMS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Starts a stream of `audio` (the call's audio, if one runs) for `peer` (for the log).
/// Call it inside the API's runtime (the stream's timer needs it). No call, too many
/// streams: the refusal, whose [`StreamRefusal::status`] the server answers.
pub fn start(audio: Option<Arc<CallAudio>>, peer: String) -> Result<AudioStream, StreamRefusal> {
    let audio = audio.ok_or(StreamRefusal::NoCall)?;
    let slot = Slot::take().ok_or(StreamRefusal::TooMany(MAX_STREAMS))?;
    let frames = audio.subscribe()?;
    let format = audio.format();
    log::info!("GET {PATH}: {peer} listens ({format:?})");
    let mut tick = tokio::time::interval(FRAME_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The audio itself is not kept: only the subscription and the weak reference.
    Ok(AudioStream {
        frames,
        audio: Arc::downgrade(&audio),
        format,
        tick,
        end: StreamEnd::ClientGone,
        peer,
        _slot: slot,
    })
}

/// One client's stream: see the module documentation. Dropping it ends the subscription.
#[derive(Debug)]
pub struct AudioStream {
    frames: Receiver<CallerFrame>,
    audio: Weak<CallAudio>,
    format: CallFormat,
    tick: tokio::time::Interval,
    /// How it ended, for the log; until then, a drop means the client went away.
    end: StreamEnd,
    peer: String,
    _slot: Slot,
}

impl AudioStream {
    /// The call's format.
    pub fn format(&self) -> CallFormat {
        self.format
    }

    /// The next frame; `None` when the call ended (the body ends properly); an error when
    /// this client was dropped while the call goes on (the body is cut off).
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<std::io::Result<Bytes>>> {
        loop {
            match self.frames.try_recv() {
                Ok(frame) => return Poll::Ready(Some(Ok(Bytes::from_owner(frame)))),
                Err(TryRecvError::Empty) => {
                    if self.tick.poll_tick(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                // The reader dropped our sender. At a call's end the audio is gone by then
                // (the bot closes it only once nobody else holds it); if it still exists,
                // we were dropped.
                Err(TryRecvError::Disconnected) if self.audio.strong_count() > 0 => {
                    self.end = StreamEnd::Dropped;
                    return Poll::Ready(Some(Err(std::io::Error::other(
                        StreamEnd::Dropped.describe(),
                    ))));
                }
                Err(TryRecvError::Disconnected) => {
                    self.end = StreamEnd::CallEnded;
                    return Poll::Ready(None);
                }
            }
        }
    }
}

impl Drop for AudioStream {
    fn drop(&mut self) {
        log::info!(
            "GET {PATH}: {}'s stream ended: {}",
            self.peer,
            self.end.describe()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_headers_name_the_format_and_the_rate() {
        let h = headers(CallFormat::Wideband);
        for (name, value) in [
            ("Content-Type", "audio/L16;rate=16000;channels=1"),
            ("X-Audio-Format", "s16le"),
            ("X-Audio-Rate", "16000"),
            ("X-Audio-Channels", "1"),
        ] {
            assert!(
                h.iter().any(|(n, v)| *n == name && v == value),
                "{name}: {value} in {h:?}"
            );
        }
        assert_eq!(
            content_type(CallFormat::Narrowband),
            "audio/L16;rate=8000;channels=1"
        );
    }

    #[test]
    fn no_call_is_409_and_the_refusals_say_why() {
        let refusal = start(None, "test".into()).unwrap_err();
        assert_eq!(refusal.status(), 409);
        assert_eq!(StreamRefusal::TooMany(8).status(), 503);
        assert!(
            StreamRefusal::TooMany(8)
                .to_string()
                .contains("8 audio streams")
        );
    }
}
