//! `GET /events`: the events as server-sent events (`text/event-stream`).
//!
//! This module owns the stream's wire format ([`frame`], [`KEEP_ALIVE`], sans-I/O) and
//! the serving of one client ([`serve`]): the API's worker hands the request over and is
//! free at once; a thread of this module writes the response head and then one frame per
//! event (`id:` and one `data:` line of JSON), with a keep-alive comment after every
//! [`KEEP_ALIVE_EVERY`] of silence, flushing each. tiny_http's own chunked writer is not
//! used because it holds back 8 KiB before it sends anything; the body simply ends with
//! the connection (`Connection: close`), as HTTP/1.1 allows.
//!
//! A client is dropped, never the bot: a gone client fails a write and its thread ends; a
//! slow one whose queue of [`CLIENT_QUEUE_EVENTS`] fills is dropped from the bus at once
//! (the thread ends at its next write, or when the kernel gives up on the connection),
//! and at most [`MAX_CLIENTS`] streams run at once.

use std::io::Write;
use std::time::Duration;

use super::bus::{EventBus, Overflow, Recv, SubscribeError, Subscription};
use super::model::Event;

/// The path.
pub const PATH: &str = "/events";
/// Streams at once; one more is answered 503.
pub const MAX_CLIENTS: usize = 8;
/// Events queued per client; a client that falls this far behind is dropped.
pub const CLIENT_QUEUE_EVENTS: usize = 256;
/// Silence after which a keep-alive comment is sent (proxies and clients see the
/// connection alive; a gone client is noticed by the failed write).
pub const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(15);
/// The keep-alive comment.
pub const KEEP_ALIVE: &str = ": keep-alive\n\n";
/// The subscriber label of stream clients on the bus.
pub const LABEL: &str = "sse";

/// One event as a frame of the stream: `id: <id>` and `data: <json>` (the JSON is one
/// line: serde_json escapes every newline inside strings).
pub fn frame(event: &Event) -> String {
    format!("id: {}\ndata: {}\n\n", event.id, event.to_json())
}

/// The response head: 200, the stream's type, no caching, the body ending at close.
pub fn head() -> &'static str {
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "Content-Type: text/event-stream\r\n",
        "Cache-Control: no-cache\r\n",
        "Connection: close\r\n",
        "X-Accel-Buffering: no\r\n",
        "\r\n",
        // The first bytes tell the client the stream is open, even before any event.
        ": stream open\n\n"
    )
}

/// Why a stream could not start: 503 with this sentence.
pub fn refusal(error: &SubscribeError) -> String {
    format!("GET /events: {error}")
}

/// Writes the stream for `subscription` to `out` until the client goes, the client falls
/// behind, or the bus closes. Returns why it ended, for the log.
pub fn stream(
    out: &mut dyn Write,
    subscription: &Subscription,
    keep_alive: Duration,
) -> &'static str {
    if write_flush(out, head().as_bytes()).is_err() {
        return "the client went away";
    }
    loop {
        let bytes = match subscription.recv_timeout(keep_alive) {
            Recv::Event(event) => frame(&event),
            Recv::Timeout => KEEP_ALIVE.to_owned(),
            Recv::Closed if subscription.was_disconnected() => {
                return "the client fell behind and was dropped";
            }
            Recv::Closed => return "the bot stops",
        };
        if write_flush(out, bytes.as_bytes()).is_err() {
            return "the client went away";
        }
    }
}

fn write_flush(out: &mut dyn Write, bytes: &[u8]) -> std::io::Result<()> {
    out.write_all(bytes)?;
    out.flush()
}

/// Serves `request` (an authorized `GET /events`) from `bus` on a thread of its own, so
/// the API's worker is free at once. Too many clients, or a bot that stops: 503.
pub fn serve(request: tiny_http::Request, bus: &EventBus) {
    let subscription = match bus.subscribe_limited(
        LABEL,
        CLIENT_QUEUE_EVENTS,
        Overflow::Disconnect,
        MAX_CLIENTS,
    ) {
        Ok(s) => s,
        Err(e) => {
            crate::api::refuse(request, 503, &refusal(&e), "GET /events");
            return;
        }
    };
    let peer = request
        .remote_addr()
        .map_or_else(|| "a client".to_owned(), ToString::to_string);
    let spawned = std::thread::Builder::new()
        .name("sse".into())
        .stack_size(128 * 1024)
        .spawn(move || {
            log::info!("GET /events: {peer} subscribed");
            let mut out = request.into_writer();
            let why = stream(&mut out, &subscription, KEEP_ALIVE_EVERY);
            log::info!("GET /events: {peer}'s stream ended: {why}");
        });
    if let Err(e) = spawned {
        // The request went into the closure that was not run: the connection closes.
        log::error!("GET /events: cannot start the stream's thread: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::model::EventKind;
    use std::sync::{Arc, Mutex};

    /// A writer whose bytes the test reads, and that fails once told the client left.
    #[derive(Clone, Default)]
    struct Client {
        bytes: Arc<Mutex<Vec<u8>>>,
        gone: Arc<Mutex<bool>>,
    }

    impl Write for Client {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if *self.gone.lock().unwrap() {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            self.bytes.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn sms(n: u32) -> EventKind {
        EventKind::SmsReceived {
            from: "+491761234567".into(),
            text: format!("line one\nline {n}"),
            time: "2026-11-24T06:00:00Z".into(),
        }
    }

    #[test]
    fn a_frame_is_an_id_line_and_one_data_line_of_json() {
        let event = Event {
            id: 12,
            at: "2026-11-24T06:00:00.000Z".into(),
            call_id: None,
            kind: sms(1),
        };
        let f = frame(&event);
        assert!(f.starts_with("id: 12\ndata: {"), "{f}");
        assert!(f.ends_with("}\n\n"));
        assert_eq!(
            f.lines().count(),
            3,
            "a newline in the text stays escaped: {f}"
        );
        let json: serde_json::Value =
            serde_json::from_str(f.lines().nth(1).unwrap().strip_prefix("data: ").unwrap())
                .unwrap();
        assert_eq!(json["text"], "line one\nline 1");
    }

    #[test]
    fn a_client_sees_the_head_events_and_keep_alives_then_the_end_when_the_bot_stops() {
        let bus = EventBus::new();
        let sub = bus.subscribe(LABEL, 16, Overflow::Disconnect);
        let client = Client::default();
        let mut out = client.clone();
        let t = std::thread::spawn(move || stream(&mut out, &sub, Duration::from_millis(20)));
        bus.publish(None, sms(1));
        std::thread::sleep(Duration::from_millis(100));
        bus.publish(None, sms(2));
        bus.close();
        assert_eq!(t.join().unwrap(), "the bot stops");
        let text = String::from_utf8(client.bytes.lock().unwrap().clone()).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("Content-Type: text/event-stream\r\n"));
        let one = text.find("id: 1\n").unwrap();
        let alive = text[one..].find(KEEP_ALIVE).unwrap() + one;
        let two = text.find("id: 2\n").unwrap();
        assert!(one < alive && alive < two, "{text}");
    }

    #[test]
    fn a_client_that_went_away_ends_its_stream_and_leaves_the_bus() {
        let bus = EventBus::new();
        let sub = bus.subscribe(LABEL, 16, Overflow::Disconnect);
        let client = Client::default();
        *client.gone.lock().unwrap() = true;
        let mut out = client.clone();
        assert_eq!(
            stream(&mut out, &sub, Duration::from_millis(10)),
            "the client went away"
        );
        drop(sub);
        assert_eq!(bus.subscriber_count(), 0);
    }

    #[test]
    fn a_client_that_falls_behind_is_told_why_its_stream_ended() {
        let bus = EventBus::new();
        let sub = bus.subscribe(LABEL, 2, Overflow::Disconnect);
        for n in 0..3 {
            bus.publish(None, sms(n));
        }
        let mut out = Client::default();
        assert_eq!(
            stream(&mut out, &sub, Duration::from_millis(10)),
            "the client fell behind and was dropped"
        );
    }
}
