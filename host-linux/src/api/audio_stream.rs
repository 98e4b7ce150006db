//! `GET /calls/current/audio`: the caller's audio, live, as a chunked HTTP response of
//! raw PCM (`audio/L16;rate=8000;channels=1`, signed 16-bit little-endian mono as
//! `X-Audio-Format: s16le` says, `X-Audio-Rate` and `X-Audio-Channels` beside it).
//!
//! This module owns the response's wire format ([`head`], [`chunk`], sans-I/O) and the
//! serving of one client ([`serve`]): the API's worker hands the request over and is free
//! at once; a thread of this module subscribes to the call's audio
//! ([`CallAudio::subscribe`]), writes the head, then every 20 ms frame as one chunk,
//! flushing each (tiny_http's own chunked writer would hold back 8 KiB, half a second).
//!
//! The body ends with the terminating chunk when the call ends (its audio closes and
//! the subscription with it). A client is dropped, never the call: the subscription's
//! queue holds one second; a client that falls further behind is dropped by the call's
//! reader and its response is cut off without the terminating chunk, so the client sees
//! a broken stream rather than a call that ended. The thread holds only a weak reference
//! to the call's audio (to tell the two apart), never the audio itself, and at most
//! [`MAX_STREAMS`] threads stream at once (a client that stopped reading keeps its
//! thread in a blocked write until the kernel gives up on the connection).

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Weak};

use crate::audio::listener::{MAX_SUBSCRIBERS, SubscribeError};
use crate::audio::{CallAudio, CallFormat, CallerFrame};

/// The path.
pub const PATH: &str = "/calls/current/audio";
/// Stream threads at once (whatever call they belong to); one more is answered 503.
pub const MAX_STREAMS: usize = MAX_SUBSCRIBERS;

static STREAMS: AtomicUsize = AtomicUsize::new(0);

/// The response head for a call in `format`.
pub fn head(format: CallFormat) -> String {
    let rate = format.sample_rate();
    format!(
        "HTTP/1.1 200 OK\r\n\
         Content-Type: audio/L16;rate={rate};channels=1\r\n\
         X-Audio-Format: s16le\r\n\
         X-Audio-Rate: {rate}\r\n\
         X-Audio-Channels: 1\r\n\
         Transfer-Encoding: chunked\r\n\
         Cache-Control: no-cache\r\n\
         X-Accel-Buffering: no\r\n\
         Connection: close\r\n\
         \r\n"
    )
}

/// `bytes` as one chunk of a chunked body (empty `bytes`: the terminating chunk).
pub fn chunk(bytes: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", bytes.len()).into_bytes();
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
    if bytes.is_empty() {
        // `0\r\n` then the empty trailer.
        out.truncate(3);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// How a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The call's audio closed: the body ended properly.
    CallEnded,
    /// The subscription ended while the call's audio still exists: the client fell more
    /// than a second behind (or the audio port's reader failed). Cut off.
    Dropped,
    /// A write failed: the client went away.
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

/// Writes the stream of `frames` (a subscription to `audio`, in `format`) to `out`.
pub fn stream(
    out: &mut dyn Write,
    format: CallFormat,
    frames: &Receiver<CallerFrame>,
    audio: &Weak<CallAudio>,
) -> StreamEnd {
    if write_flush(out, head(format).as_bytes()).is_err() {
        return StreamEnd::ClientGone;
    }
    for frame in frames {
        if write_flush(out, &chunk(&frame)).is_err() {
            return StreamEnd::ClientGone;
        }
    }
    // The reader dropped our sender. At a call's end the audio is gone by then (the bot
    // closes it only once nobody else holds it); if it still exists, we were dropped.
    if audio.strong_count() > 0 {
        return StreamEnd::Dropped;
    }
    match write_flush(out, &chunk(&[])) {
        Ok(()) => StreamEnd::CallEnded,
        Err(_) => StreamEnd::ClientGone,
    }
}

fn write_flush(out: &mut dyn Write, bytes: &[u8]) -> std::io::Result<()> {
    out.write_all(bytes)?;
    out.flush()
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

/// Counts a stream thread while it lives.
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

/// Serves `request` (an authorized `GET /calls/current/audio`) from `audio` on a thread
/// of its own, so that the API's worker is free at once. No call, too many streams: a
/// JSON refusal.
pub fn serve(request: tiny_http::Request, audio: Option<Arc<CallAudio>>) {
    let started = audio.ok_or(StreamRefusal::NoCall).and_then(|audio| {
        let slot = Slot::take().ok_or(StreamRefusal::TooMany(MAX_STREAMS))?;
        let frames = audio.subscribe()?;
        Ok((slot, frames, audio.format(), Arc::downgrade(&audio)))
    });
    // The audio itself is not kept: only the subscription and the weak reference.
    let (slot, frames, format, weak) = match started {
        Ok(s) => s,
        Err(refusal) => {
            let what = format!("GET {PATH}");
            super::refuse(
                request,
                refusal.status(),
                &format!("{what}: {refusal}"),
                &what,
            );
            return;
        }
    };
    let peer = request
        .remote_addr()
        .map_or_else(|| "a client".to_owned(), ToString::to_string);
    let spawned = std::thread::Builder::new()
        .name("audio-stream".into())
        .stack_size(128 * 1024)
        .spawn(move || {
            let _slot = slot;
            log::info!("GET {PATH}: {peer} listens ({format:?})");
            let mut out = request.into_writer();
            let end = stream(&mut out, format, &frames, &weak);
            log::info!("GET {PATH}: {peer}'s stream ended: {}", end.describe());
        });
    if let Err(e) = spawned {
        // The request went into the closure that was not run: the connection closes.
        log::error!("GET {PATH}: cannot start the stream's thread: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::sync_channel;

    #[test]
    fn the_head_names_the_format_and_the_rate() {
        let h = head(CallFormat::Wideband);
        assert!(h.starts_with("HTTP/1.1 200 OK\r\n"), "{h}");
        for line in [
            "Content-Type: audio/L16;rate=16000;channels=1\r\n",
            "X-Audio-Format: s16le\r\n",
            "X-Audio-Rate: 16000\r\n",
            "X-Audio-Channels: 1\r\n",
            "Transfer-Encoding: chunked\r\n",
        ] {
            assert!(h.contains(line), "{line} in {h}");
        }
        assert!(h.ends_with("\r\n\r\n"));
        assert!(head(CallFormat::Narrowband).contains("X-Audio-Rate: 8000\r\n"));
    }

    #[test]
    fn chunks_are_sized_in_hex_and_the_last_is_empty() {
        assert_eq!(chunk(&[1u8; 320]).len(), 3 + 2 + 320 + 2);
        assert!(chunk(&[1u8; 320]).starts_with(b"140\r\n"));
        assert_eq!(chunk(&[]), b"0\r\n\r\n");
    }

    #[test]
    fn frames_stream_until_the_end_which_is_told_apart_from_a_drop() {
        let (tx, rx) = sync_channel::<CallerFrame>(4);
        tx.send(Arc::from(vec![7u8; 320])).unwrap();
        tx.send(Arc::from(vec![8u8; 320])).unwrap();
        drop(tx);
        let mut out = Vec::new();
        // No audio alive: the call ended, the body ends properly.
        let end = stream(&mut out, CallFormat::Narrowband, &rx, &Weak::new());
        assert_eq!(end, StreamEnd::CallEnded);
        let text = String::from_utf8_lossy(&out);
        let body = text.split_once("\r\n\r\n").unwrap().1;
        assert!(body.starts_with("140\r\n"), "{body:?}");
        assert!(body.ends_with("\r\n0\r\n\r\n"), "{body:?}");
        assert_eq!(body.matches("140\r\n").count(), 2);
    }
}
