//! Webhook delivery: every event POSTed as JSON to each configured URL.
//!
//! This module owns one delivery thread per URL ([`Webhooks`]), each with its own bounded
//! [`Subscription`] on the bus, so a receiver that is down or slow delays only its own
//! queue: never the bot's loop, never another URL. Per URL the events go out in order,
//! one at a time; each gets at most `1 + retries` attempts (a transport error, 408, 429
//! or 5xx is retried after a doubling pause; any other answer but 2xx is final), then it
//! is given up and logged. What to do with an answer is [`judge`], sans-I/O.
//!
//! At shutdown the bus closes; each thread delivers what is still queued with single
//! attempts for at most [`SHUTDOWN_GRACE`], then drops the rest (logged with the count).

use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::bus::{EventBus, Overflow, Recv, Subscription};
use super::model::Event;
use super::settings::{EventsSettings, RetryPolicy};

/// How long the delivery threads may go on after shutdown to empty their queues.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// The header naming the event's type.
pub const TYPE_HEADER: &str = "X-Sim7600-Event";
/// The header carrying the event's id (receivers de-duplicate a retried delivery by it).
pub const ID_HEADER: &str = "X-Sim7600-Event-Id";

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Delivered (2xx).
    Delivered,
    /// Worth another try later (transport error, 408, 429, 5xx).
    Retry(String),
    /// The receiver refused it for good (another 4xx, a redirect): no retry.
    Refused(String),
}

/// Judges a receiver's HTTP status.
pub fn judge(status: u16) -> Attempt {
    match status {
        200..=299 => Attempt::Delivered,
        408 | 429 | 500..=599 => Attempt::Retry(format!("answered {status}")),
        300..=399 => Attempt::Refused(format!("answered {status}: redirects are not followed")),
        _ => Attempt::Refused(format!("answered {status}")),
    }
}

/// Counts of one URL's deliveries, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    /// Events delivered.
    pub delivered: u64,
    /// Events given up on (attempts used up, or refused).
    pub failed: u64,
}

/// The running delivery threads. [`Webhooks::shutdown`] (or dropping) stops them.
#[derive(Debug)]
pub struct Webhooks {
    bus: EventBus,
    workers: Vec<JoinHandle<()>>,
    /// Each thread sends its index and counts here when it ends.
    ended: mpsc::Receiver<(usize, DeliveryCounts)>,
    /// The threads' subscriptions, to end them without closing the bus ([`Webhooks::retire`]).
    subscriptions: Vec<std::sync::Arc<crate::events::bus::Subscription>>,
}

/// A delivery thread could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the webhook thread for {url}: {source}")]
pub struct WebhookError {
    /// The URL.
    pub url: String,
    /// What the OS said.
    pub source: std::io::Error,
}

impl Webhooks {
    /// Starts one delivery thread per URL of `settings` (already validated), each
    /// subscribed to `bus` from now on. With no URLs, no thread.
    pub fn start(bus: &EventBus, settings: &EventsSettings) -> Result<Webhooks, WebhookError> {
        Self::start_counted(bus, settings, None)
    }

    /// [`Webhooks::start`], each delivery, failure and drop also counted in `metrics`
    /// (`GET /metrics`).
    pub fn start_counted(
        bus: &EventBus,
        settings: &EventsSettings,
        metrics: Option<std::sync::Arc<crate::platform::metrics::Metrics>>,
    ) -> Result<Webhooks, WebhookError> {
        let (ended_tx, ended) = mpsc::channel();
        let mut hooks = Webhooks {
            bus: bus.clone(),
            workers: Vec::with_capacity(settings.webhooks.len()),
            ended,
            subscriptions: Vec::with_capacity(settings.webhooks.len()),
        };
        for (n, url) in settings.webhooks.iter().enumerate() {
            let subscription = std::sync::Arc::new(bus.subscribe(
                &format!("webhook {url}"),
                settings.queue_len,
                Overflow::DropOldest,
            ));
            hooks.subscriptions.push(subscription.clone());
            let agent = agent(settings.timeout());
            let url_owned = url.clone();
            let retry = settings.retry();
            let ended = ended_tx.clone();
            let metrics = metrics.clone();
            let worker = std::thread::Builder::new()
                .name(format!("webhook-{n}"))
                .stack_size(256 * 1024)
                .spawn(move || {
                    let counts =
                        deliver_all(&agent, &url_owned, &subscription, retry, metrics.as_deref());
                    // The receiver may be gone (stopped without waiting).
                    let _ = ended.send((n, counts));
                })
                .map_err(|source| WebhookError {
                    url: url.clone(),
                    source,
                })?;
            hooks.workers.push(worker);
            log::info!("events: webhook {url}");
        }
        Ok(hooks)
    }

    /// Closes the bus and waits for the threads (at most the grace plus one attempt's
    /// timeout); returns each URL's counts in the order configured (`None` for a thread
    /// left behind still busy with an attempt).
    pub fn shutdown(mut self) -> Vec<Option<DeliveryCounts>> {
        self.stop()
    }

    /// Ends these webhooks alone, the bus staying open for the rest (a reload's new
    /// webhooks, `GET /events`): each thread delivers what it has queued within the grace,
    /// as at shutdown.
    pub fn retire(mut self) -> Vec<Option<DeliveryCounts>> {
        for s in &self.subscriptions {
            s.close();
        }
        self.wait_for_workers()
    }

    fn stop(&mut self) -> Vec<Option<DeliveryCounts>> {
        self.bus.close();
        self.wait_for_workers()
    }

    fn wait_for_workers(&mut self) -> Vec<Option<DeliveryCounts>> {
        let workers = std::mem::take(&mut self.workers);
        let deadline = Instant::now() + SHUTDOWN_GRACE + Duration::from_secs(1);
        let mut counts: Vec<Option<DeliveryCounts>> = vec![None; workers.len()];
        let mut ended = 0;
        while ended < workers.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.ended.recv_timeout(left) {
                Ok((n, c)) => {
                    if let Some(slot) = counts.get_mut(n) {
                        *slot = Some(c);
                    }
                    ended += 1;
                }
                Err(_) => break,
            }
        }
        if ended < workers.len() {
            // Its attempt ends within the configured timeout; it holds only its queue.
            log::warn!(
                "events: {} webhook thread(s) still busy with an attempt; not waiting",
                workers.len() - ended
            );
        }
        // The threads that reported are ending; the others are left to finish alone.
        drop(workers);
        counts
    }
}

impl Drop for Webhooks {
    fn drop(&mut self) {
        if !self.workers.is_empty() {
            self.stop();
        }
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("sim7600/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// One attempt to POST `event` to `url`.
fn post(agent: &ureq::Agent, url: &str, event: &Event, body: &str) -> Attempt {
    let result = agent
        .post(url)
        .header("Content-Type", "application/json")
        .header(TYPE_HEADER, event.type_name())
        .header(ID_HEADER, event.id.to_string())
        .send(body);
    match result {
        Ok(response) => judge(response.status().as_u16()),
        Err(e) => Attempt::Retry(e.to_string()),
    }
}

/// A delivery thread's life: the queue's events in order, until the bus closes.
fn deliver_all(
    agent: &ureq::Agent,
    url: &str,
    subscription: &Subscription,
    retry: RetryPolicy,
    metrics: Option<&crate::platform::metrics::Metrics>,
) -> DeliveryCounts {
    let mut counts = DeliveryCounts::default();
    let mut reported_dropped = 0;
    let mut grace_end: Option<Instant> = None;
    loop {
        let event = match subscription.recv_timeout(Duration::from_secs(3600)) {
            Recv::Event(e) => e,
            Recv::Timeout => continue,
            Recv::Closed => break,
        };
        let dropped = subscription.dropped();
        if dropped > reported_dropped {
            log::warn!(
                "events: webhook {url} fell behind: {} events dropped (oldest first)",
                dropped - reported_dropped
            );
            if let Some(m) = metrics {
                m.webhook_dropped(dropped - reported_dropped);
            }
            reported_dropped = dropped;
        }
        if subscription.is_closed() {
            let end = *grace_end.get_or_insert_with(|| Instant::now() + SHUTDOWN_GRACE);
            if Instant::now() >= end {
                let left = 1 + subscription.queued();
                log::warn!("events: webhook {url}: {left} events not delivered at shutdown");
                break;
            }
        }
        if deliver_one(agent, url, &event, subscription, retry) {
            counts.delivered += 1;
            if let Some(m) = metrics {
                m.webhook_delivered();
            }
        } else {
            counts.failed += 1;
            if let Some(m) = metrics {
                m.webhook_failed();
            }
        }
    }
    counts
}

/// Delivers one event with retries; `true` when delivered. After the bus closed, one
/// attempt only.
fn deliver_one(
    agent: &ureq::Agent,
    url: &str,
    event: &Arc<Event>,
    subscription: &Subscription,
    retry: RetryPolicy,
) -> bool {
    let body = event.to_json();
    let mut n = 0;
    loop {
        let problem = match post(agent, url, event, &body) {
            Attempt::Delivered => return true,
            Attempt::Refused(problem) => {
                log::warn!(
                    "events: webhook {url} refused event {} ({}): {problem}; not retried",
                    event.id,
                    event.type_name()
                );
                return false;
            }
            Attempt::Retry(problem) => problem,
        };
        n += 1;
        let pause = retry.pause_before(n).filter(|_| !subscription.is_closed());
        let Some(pause) = pause else {
            log::warn!(
                "events: webhook {url}: event {} ({}) given up after {n} attempts: {problem}",
                event.id,
                event.type_name()
            );
            return false;
        };
        log::debug!(
            "events: webhook {url}: event {}: {problem}; retry in {} ms",
            event.id,
            pause.as_millis()
        );
        if subscription.sleep_unless_closed(pause) {
            // Shutdown during the pause: one last attempt, then the next event.
            return matches!(post(agent, url, event, &body), Attempt::Delivered);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::model::EventKind;
    use std::sync::Mutex;

    fn sms(n: u32) -> EventKind {
        EventKind::SmsReceived {
            from: "+491761234567".into(),
            text: format!("message {n}"),
            time: "2026-11-24T06:00:00Z".into(),
        }
    }

    /// A receiver on 127.0.0.1 that answers the statuses of `script` in turn (then 200),
    /// and records each body with its id header.
    /// What a test receiver got: (id header, body) per request.
    type Received = Arc<Mutex<Vec<(String, String)>>>;

    fn receiver(script: Vec<u16>) -> (String, Received, JoinHandle<()>) {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", server.server_addr().to_ip().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&got);
        let t = std::thread::spawn(move || {
            let mut script = script.into_iter();
            while let Ok(Some(mut request)) = server.recv_timeout(Duration::from_secs(5)) {
                let mut body = String::new();
                request.as_reader().read_to_string(&mut body).unwrap();
                let id = request
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv(ID_HEADER))
                    .map(|h| h.value.to_string())
                    .unwrap_or_default();
                seen.lock().unwrap().push((id, body));
                let status = script.next().unwrap_or(200);
                request.respond(tiny_http::Response::empty(status)).unwrap();
            }
        });
        (url, got, t)
    }

    fn settings(url: &str, retries: u32) -> EventsSettings {
        EventsSettings {
            webhooks: vec![url.to_owned()],
            retries,
            retry_initial_ms: 10,
            retry_max_ms: 40,
            timeout_ms: 2000,
            ..EventsSettings::default()
        }
    }

    #[test]
    fn statuses_are_judged_success_retry_or_refusal() {
        assert_eq!(judge(204), Attempt::Delivered);
        assert!(matches!(judge(503), Attempt::Retry(_)));
        assert!(matches!(judge(429), Attempt::Retry(_)));
        assert!(matches!(judge(404), Attempt::Refused(_)));
        assert!(matches!(judge(301), Attempt::Refused(s) if s.contains("redirect")));
    }

    #[test]
    fn a_receiver_gets_every_event_in_order_and_a_503_is_retried() {
        let (url, got, t) = receiver(vec![503]);
        let bus = EventBus::new();
        let hooks = Webhooks::start(&bus, &settings(&url, 3)).unwrap();
        for n in 0..3 {
            bus.publish(None, sms(n));
        }
        hil_wait(|| got.lock().unwrap().len() >= 4);
        let counts = hooks.shutdown();
        assert_eq!(
            counts,
            [Some(DeliveryCounts {
                delivered: 3,
                failed: 0
            })]
        );
        let got = got.lock().unwrap();
        let ids: Vec<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(
            ids,
            ["1", "1", "2", "3"],
            "the first one twice: 503, then 200"
        );
        let first: serde_json::Value = serde_json::from_str(&got[1].1).unwrap();
        assert_eq!(first["type"], "sms_received");
        assert_eq!(first["text"], "message 0");
        drop(got);
        t.join().unwrap();
    }

    #[test]
    fn retired_webhooks_end_alone_and_the_bus_serves_their_successors() {
        let (old_url, old_got, old_t) = receiver(vec![]);
        let (new_url, new_got, new_t) = receiver(vec![]);
        let bus = EventBus::new();
        // Another consumer (as `GET /events`) that must outlive the swap.
        let stream = bus.subscribe("events stream", 16, Overflow::DropOldest);
        let old = Webhooks::start(&bus, &settings(&old_url, 0)).unwrap();
        bus.publish(None, sms(0));
        hil_wait(|| !old_got.lock().unwrap().is_empty());
        // A reload: the new webhooks first, then the old ones retire.
        let new = Webhooks::start(&bus, &settings(&new_url, 0)).unwrap();
        let counts = old.retire();
        assert_eq!(
            counts,
            [Some(DeliveryCounts {
                delivered: 1,
                failed: 0
            })]
        );
        bus.publish(None, sms(1));
        hil_wait(|| !new_got.lock().unwrap().is_empty());
        assert_eq!(
            old_got.lock().unwrap().len(),
            1,
            "a retired webhook got more"
        );
        assert!(!stream.is_closed(), "retiring webhooks closed the bus");
        assert_eq!(stream.queued(), 2);
        new.shutdown();
        assert!(stream.is_closed());
        old_t.join().unwrap();
        new_t.join().unwrap();
    }

    #[test]
    fn deliveries_and_failures_are_counted_for_metrics() {
        let (url, got, t) = receiver(vec![400]);
        let bus = EventBus::new();
        let metrics = Arc::new(crate::platform::metrics::Metrics::new());
        let hooks =
            Webhooks::start_counted(&bus, &settings(&url, 3), Some(Arc::clone(&metrics))).unwrap();
        bus.publish(None, sms(0));
        bus.publish(None, sms(1));
        hil_wait(|| got.lock().unwrap().len() >= 2);
        hooks.shutdown();
        let text = metrics.render(&crate::platform::metrics::Gauges::default());
        for line in [
            "sim7600_webhook_deliveries_total{result=\"delivered\"} 1",
            "sim7600_webhook_deliveries_total{result=\"failed\"} 1",
            "sim7600_webhook_events_dropped_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
        t.join().unwrap();
    }

    #[test]
    fn a_refusal_is_not_retried_and_the_next_event_goes_on() {
        let (url, got, t) = receiver(vec![400]);
        let bus = EventBus::new();
        let hooks = Webhooks::start(&bus, &settings(&url, 3)).unwrap();
        bus.publish(None, sms(0));
        bus.publish(None, sms(1));
        hil_wait(|| got.lock().unwrap().len() >= 2);
        let counts = hooks.shutdown();
        assert_eq!(
            counts,
            [Some(DeliveryCounts {
                delivered: 1,
                failed: 1
            })]
        );
        t.join().unwrap();
    }

    #[test]
    fn a_receiver_that_is_down_gets_bounded_attempts_and_never_holds_up_the_publisher() {
        // A port nobody listens on: connections are refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let bus = EventBus::new();
        let hooks =
            Webhooks::start(&bus, &settings(&format!("http://127.0.0.1:{port}/"), 2)).unwrap();
        let started = Instant::now();
        for n in 0..1000 {
            bus.publish(None, sms(n));
        }
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "publishing took {:?}",
            started.elapsed()
        );
        let stopping = Instant::now();
        let counts = hooks.shutdown();
        assert!(stopping.elapsed() < SHUTDOWN_GRACE + Duration::from_secs(1));
        let c = counts[0].unwrap();
        assert_eq!(c.delivered, 0);
        assert!(c.failed >= 1, "{c:?}");
    }

    #[test]
    fn no_urls_no_threads() {
        let bus = EventBus::new();
        let hooks = Webhooks::start(&bus, &EventsSettings::default()).unwrap();
        assert_eq!(bus.subscriber_count(), 0);
        assert!(hooks.shutdown().is_empty());
    }

    fn hil_wait(done: impl Fn() -> bool) {
        let end = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < end, "not within 10 s");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
