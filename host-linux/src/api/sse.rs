//! `GET /events`: the events as server-sent events (`text/event-stream`).
//!
//! This module owns the stream's wire format ([`frame`], [`KEEP_ALIVE`], sans-I/O) and
//! one client's stream ([`EventStream`]): the API's server subscribes with [`subscribe`]
//! once the route accepted the request, and sends the stream's chunks as the response
//! body: an opening comment, then one frame per event (`id:` and one `data:` line of
//! JSON), with a keep-alive comment after every [`KEEP_ALIVE_EVERY`] of silence. No thread
//! is spent on a client: the stream waits on its bus queue and on a timer.
//!
//! The policy (documented in docs/events.md): at most [`MAX_CLIENTS`] streams at once,
//! each also one of the API's connections (`[api] max_connections`); a client is dropped,
//! never the bot: a client that goes away is noticed by the server at once (the
//! connection's end) or at the latest by the next keep-alive's failed write, and its
//! subscription ends with it; a slow one whose queue of [`CLIENT_QUEUE_EVENTS`] fills is
//! dropped from the bus at once and its stream ends.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Bytes;

use crate::events::bus::{EventBus, Overflow, Recv, SubscribeError, Subscription};
use crate::events::model::Event;

/// The path.
pub const PATH: &str = "/events";
/// Streams at once; one more is answered 503. Each is also one of the API's connections.
pub const MAX_CLIENTS: usize = 64;
/// Events queued per client; a client that falls this far behind is dropped.
pub const CLIENT_QUEUE_EVENTS: usize = 256;
/// Silence after which a keep-alive comment is sent (proxies and clients see the
/// connection alive; a gone client is noticed by the failed write).
pub const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(15);
/// The keep-alive comment.
pub const KEEP_ALIVE: &str = ": keep-alive\n\n";
/// The first bytes of the body: the client sees the stream open before any event.
pub const OPENING: &str = ": stream open\n\n";
/// The subscriber label of stream clients on the bus.
pub const LABEL: &str = "sse";
/// The response headers besides the status.
pub const HEADERS: [(&str, &str); 3] = [
    ("Content-Type", "text/event-stream"),
    ("Cache-Control", "no-cache"),
    ("X-Accel-Buffering", "no"),
];

/// One event as a frame of the stream: `id: <id>` and `data: <json>` (the JSON is one
/// line: serde_json escapes every newline inside strings).
pub fn frame(event: &Event) -> String {
    format!("id: {}\ndata: {}\n\n", event.id, event.to_json())
}

/// Why a stream could not start: 503 with this sentence.
pub fn refusal(error: &SubscribeError) -> String {
    format!("GET /events: {error}")
}

/// Subscribes `peer` (for the log) to `bus`; refused when [`MAX_CLIENTS`] streams run or
/// the bot stops. Call it inside the API's runtime (the stream's timer needs it).
pub fn subscribe(bus: &EventBus, peer: String) -> Result<EventStream, SubscribeError> {
    let subscription = bus.subscribe_limited(
        LABEL,
        CLIENT_QUEUE_EVENTS,
        Overflow::Disconnect,
        MAX_CLIENTS,
    )?;
    log::info!("GET /events: {peer} subscribed");
    Ok(EventStream::new(subscription, KEEP_ALIVE_EVERY, peer))
}

/// One client's stream: see the module documentation. Dropping it (the client went away,
/// the server stops) leaves the bus.
#[derive(Debug)]
pub struct EventStream {
    subscription: Subscription,
    keep_alive: Duration,
    silence: Pin<Box<tokio::time::Sleep>>,
    opened: bool,
    /// Why it ended, for the log; until then, a drop means the client went away.
    why: &'static str,
    peer: String,
}

impl EventStream {
    fn new(subscription: Subscription, keep_alive: Duration, peer: String) -> Self {
        Self {
            subscription,
            keep_alive,
            silence: Box::pin(tokio::time::sleep(keep_alive)),
            opened: false,
            why: "the client went away",
            peer,
        }
    }

    /// The next bytes of the body; `None` once the stream ends (the bus closed, or this
    /// client was dropped for falling behind).
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if !self.opened {
            self.opened = true;
            return Poll::Ready(Some(Bytes::from_static(OPENING.as_bytes())));
        }
        let text = match self.subscription.poll_recv(cx) {
            Poll::Ready(Recv::Event(event)) => frame(&event),
            Poll::Ready(Recv::Closed) => {
                self.why = if self.subscription.was_disconnected() {
                    "the client fell behind and was dropped"
                } else {
                    "the bot stops"
                };
                return Poll::Ready(None);
            }
            Poll::Ready(Recv::Timeout) | Poll::Pending => {
                if self.silence.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                KEEP_ALIVE.to_owned()
            }
        };
        let next = tokio::time::Instant::now() + self.keep_alive;
        self.silence.as_mut().reset(next);
        Poll::Ready(Some(Bytes::from(text)))
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        log::info!("GET /events: {}'s stream ended: {}", self.peer, self.why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::model::EventKind;

    fn sms(n: u32) -> EventKind {
        EventKind::SmsReceived {
            from: "+491761234567".into(),
            text: format!("line one\nline {n}"),
            time: "2026-11-24T06:00:00Z".into(),
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    /// The body's chunks until it ends or `bound` passes (then `None` closes the list).
    async fn collect(stream: &mut EventStream, bound: Duration) -> (Vec<String>, bool) {
        let mut chunks = Vec::new();
        let deadline = tokio::time::Instant::now() + bound;
        loop {
            let next = std::future::poll_fn(|cx| stream.poll_chunk(cx));
            match tokio::time::timeout_at(deadline, next).await {
                Ok(Some(bytes)) => chunks.push(String::from_utf8(bytes.to_vec()).unwrap()),
                Ok(None) => return (chunks, true),
                Err(_) => return (chunks, false),
            }
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
    fn a_client_sees_the_opening_events_and_keep_alives_then_the_end_when_the_bot_stops() {
        runtime().block_on(async {
            let bus = EventBus::new();
            let sub = bus.subscribe(LABEL, 16, Overflow::Disconnect);
            let mut stream = EventStream::new(sub, Duration::from_millis(20), "test".into());
            bus.publish(None, sms(1));
            let (first, ended) = collect(&mut stream, Duration::from_millis(70)).await;
            assert!(!ended);
            bus.publish(None, sms(2));
            bus.close();
            let (rest, ended) = collect(&mut stream, Duration::from_secs(5)).await;
            assert!(ended, "the stream ends when the bus closes");
            assert_eq!(stream.why, "the bot stops");
            let text: String = first.into_iter().chain(rest).collect();
            assert!(text.starts_with(OPENING), "{text}");
            let one = text.find("id: 1\n").unwrap();
            let alive = text[one..].find(KEEP_ALIVE).unwrap() + one;
            let two = text.find("id: 2\n").unwrap();
            assert!(one < alive && alive < two, "{text}");
        });
    }

    #[test]
    fn a_subscription_past_the_limit_is_refused_and_a_dropped_stream_frees_its_place() {
        runtime().block_on(async {
            let bus = EventBus::new();
            let streams: Vec<_> = (0..MAX_CLIENTS)
                .map(|n| subscribe(&bus, format!("client {n}")).unwrap())
                .collect();
            let refused = subscribe(&bus, "one more".into()).unwrap_err();
            assert!(
                refusal(&refused).contains("64 sse subscribers"),
                "{refused}"
            );
            drop(streams);
            assert_eq!(bus.subscriber_count(), 0, "a gone client leaves the bus");
            assert!(subscribe(&bus, "later".into()).is_ok());
        });
    }

    #[test]
    fn a_client_that_falls_behind_is_told_why_its_stream_ended() {
        runtime().block_on(async {
            let bus = EventBus::new();
            let sub = bus.subscribe(LABEL, 2, Overflow::Disconnect);
            for n in 0..3 {
                bus.publish(None, sms(n));
            }
            let mut stream = EventStream::new(sub, Duration::from_millis(10), "slow".into());
            let (_, ended) = collect(&mut stream, Duration::from_secs(5)).await;
            assert!(ended);
            assert_eq!(stream.why, "the client fell behind and was dropped");
        });
    }
}
