//! The event bus: one publishing side that never blocks, many bounded subscriber queues.
//!
//! This module owns the numbering of events (id, time stamp, the call's id through
//! [`CallNumbering`]) and their fan-out. The bot's loop publishes (and so may the SMS
//! receiving side); each consumer (a webhook URL's delivery thread, an SSE client) holds a
//! [`Subscription`] with its own queue of at most `capacity` events. Publishing takes a
//! lock that consumers only ever hold to push or pop one event, never across I/O, so the
//! call loop is never held up by a slow receiver. When a queue is full, its
//! [`Overflow`] policy decides: drop the oldest undelivered event and count it
//! (webhooks), or drop the subscriber (an SSE client that does not keep up).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use modem_core::call::CallEvent;

use super::model::{CallNumbering, Event, EventKind};
use crate::calls::CallRecord;

/// What a full subscriber queue does with one event too many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// The oldest undelivered event is dropped and counted.
    DropOldest,
    /// The subscriber is dropped: its queue is closed and it gets nothing more.
    Disconnect,
}

/// What [`Subscription::recv_timeout`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recv {
    /// The next event.
    Event(Arc<Event>),
    /// Nothing came within the wait.
    Timeout,
    /// The bus closed (the bot stops) or dropped this subscriber, and the queue is empty.
    Closed,
}

#[derive(Debug, Default)]
struct QueueState {
    events: VecDeque<Arc<Event>>,
    dropped: u64,
    closed: bool,
    /// Dropped as too slow ([`Overflow::Disconnect`]).
    disconnected: bool,
    /// The task waiting in [`Subscription::poll_recv`], woken with the condition variable.
    waker: Option<Waker>,
}

impl QueueState {
    fn wake(&mut self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

#[derive(Debug)]
struct Queue {
    label: String,
    capacity: usize,
    overflow: Overflow,
    state: Mutex<QueueState>,
    ready: Condvar,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // Plain data: a panic elsewhere leaves nothing half-done worth refusing.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Pushes `event`; `false` when the subscriber is to be dropped from the bus.
    fn push(&self, event: &Arc<Event>) -> bool {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        if state.events.len() >= self.capacity {
            match self.overflow {
                Overflow::DropOldest => {
                    state.events.pop_front();
                    state.dropped = state.dropped.saturating_add(1);
                }
                Overflow::Disconnect => {
                    state.dropped = state.dropped.saturating_add(1);
                    state.closed = true;
                    state.disconnected = true;
                    state.wake();
                    drop(state);
                    self.ready.notify_all();
                    return false;
                }
            }
        }
        state.events.push_back(Arc::clone(event));
        state.wake();
        drop(state);
        self.ready.notify_all();
        true
    }

    fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.wake();
        drop(state);
        self.ready.notify_all();
    }
}

#[derive(Debug, Default)]
struct BusState {
    next_id: u64,
    calls: CallNumbering,
    subscribers: Vec<Arc<Queue>>,
    closed: bool,
}

#[derive(Debug, Default)]
struct BusShared {
    state: Mutex<BusState>,
}

impl BusShared {
    fn lock(&self) -> MutexGuard<'_, BusState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The publishing side; clones share one bus. See the module documentation.
#[derive(Debug, Clone, Default)]
pub struct EventBus {
    shared: Arc<BusShared>,
}

/// Why a subscription was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// As many subscribers of this kind as allowed are connected.
    #[error("{max} {label} subscribers are connected already, the most allowed")]
    Full {
        /// The kind.
        label: String,
        /// The limit.
        max: usize,
    },
    /// The bus is closed: the bot is stopping.
    #[error("the bot is stopping: no more events")]
    Closed,
}

impl EventBus {
    /// A bus with no subscribers (publishing costs little more than the numbering).
    pub fn new() -> Self {
        Self::default()
    }

    /// A new subscriber `label` (for logs and limits) with a queue of `capacity` events
    /// (at least 1). Events published from now on reach it.
    pub fn subscribe(&self, label: &str, capacity: usize, overflow: Overflow) -> Subscription {
        let queue = Arc::new(Queue {
            label: label.to_owned(),
            capacity: capacity.max(1),
            overflow,
            state: Mutex::new(QueueState::default()),
            ready: Condvar::new(),
        });
        let mut bus = self.shared.lock();
        if bus.closed {
            queue.close();
        } else {
            bus.subscribers.push(Arc::clone(&queue));
        }
        Subscription {
            queue,
            bus: Arc::downgrade(&self.shared),
        }
    }

    /// As [`EventBus::subscribe`], refused when `max` subscribers with this `label` are
    /// connected, or when the bus is closed.
    pub fn subscribe_limited(
        &self,
        label: &str,
        capacity: usize,
        overflow: Overflow,
        max: usize,
    ) -> Result<Subscription, SubscribeError> {
        {
            let bus = self.shared.lock();
            if bus.closed {
                return Err(SubscribeError::Closed);
            }
            let n = bus.subscribers.iter().filter(|q| q.label == label).count();
            if n >= max {
                return Err(SubscribeError::Full {
                    label: label.to_owned(),
                    max,
                });
            }
        }
        Ok(self.subscribe(label, capacity, overflow))
    }

    /// Subscribers now.
    pub fn subscriber_count(&self) -> usize {
        self.shared.lock().subscribers.len()
    }

    fn publish_locked(bus: &mut BusState, call_id: Option<u64>, kind: EventKind) -> Arc<Event> {
        bus.next_id = bus.next_id.saturating_add(1);
        let event = Arc::new(Event {
            id: bus.next_id,
            at: format!("{:.3}", jiff::Timestamp::now()),
            call_id,
            kind,
        });
        // Pushed under the bus lock, so every subscriber sees the ids in order even with
        // two publishers; a queue's lock is only ever held for one push or pop.
        bus.subscribers.retain(|q| {
            let keep = q.push(&event);
            if !keep {
                log::warn!(
                    "events: subscriber {} dropped (it fell {} events behind)",
                    q.label,
                    q.capacity
                );
            }
            keep
        });
        event
    }

    /// The id of the call in progress (the `call_id` its events carry), if any.
    pub fn current_call_id(&self) -> Option<u64> {
        self.shared.lock().calls.current()
    }

    /// Publishes `kind` for call `call_id` (`None`: not about a call). Never blocks on a
    /// subscriber. Returns the event as published.
    pub fn publish(&self, call_id: Option<u64>, kind: EventKind) -> Arc<Event> {
        let mut bus = self.shared.lock();
        Self::publish_locked(&mut bus, call_id, kind)
    }

    /// Publishes a call event of modem-core's call machine, numbered with its call.
    pub fn call_event(&self, event: &CallEvent) -> Arc<Event> {
        let mut bus = self.shared.lock();
        let (call_id, kind) = bus.calls.call_event(event);
        Self::publish_locked(&mut bus, Some(call_id), kind)
    }

    /// Publishes an SMS that arrived from `from` with `text`, sent at `time` (the service
    /// centre's time stamp as the receiving side writes it).
    pub fn sms_received(&self, from: &str, text: &str, time: &str) -> Arc<Event> {
        self.publish(
            None,
            EventKind::SmsReceived {
                from: from.to_owned(),
                text: text.to_owned(),
                time: time.to_owned(),
            },
        )
    }

    /// The modem was lost with a call in progress (the call log's `record` of it):
    /// publishes its end, unless it was published already.
    pub fn call_lost(&self, record: &CallRecord) -> Option<Arc<Event>> {
        let mut bus = self.shared.lock();
        let (call_id, kind) = bus.calls.call_lost(record)?;
        Some(Self::publish_locked(&mut bus, Some(call_id), kind))
    }

    /// Closes the bus: every subscriber gets what is queued, then [`Recv::Closed`]; later
    /// subscriptions are closed from the start. Publishing after this reaches nobody.
    pub fn close(&self) {
        let subscribers = {
            let mut bus = self.shared.lock();
            bus.closed = true;
            std::mem::take(&mut bus.subscribers)
        };
        for q in subscribers {
            q.close();
        }
    }
}

/// One consumer's queue. Dropping it leaves the bus.
#[derive(Debug)]
pub struct Subscription {
    queue: Arc<Queue>,
    bus: Weak<BusShared>,
}

impl Subscription {
    /// Waits at most `wait` for the next event.
    pub fn recv_timeout(&self, wait: Duration) -> Recv {
        let deadline = Instant::now() + wait;
        let mut state = self.queue.lock();
        loop {
            if let Some(event) = state.events.pop_front() {
                return Recv::Event(event);
            }
            if state.closed {
                return Recv::Closed;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Recv::Timeout;
            }
            state = match self.queue.ready.wait_timeout(state, left) {
                Ok((s, _)) => s,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// The next event, or [`Recv::Closed`], for a task: `Pending` (and a wake-up when an
    /// event comes or the queue closes) while there is neither. Never [`Recv::Timeout`].
    pub fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Recv> {
        let mut state = self.queue.lock();
        if let Some(event) = state.events.pop_front() {
            return Poll::Ready(Recv::Event(event));
        }
        if state.closed {
            return Poll::Ready(Recv::Closed);
        }
        match &state.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The next event without waiting.
    pub fn try_recv(&self) -> Option<Arc<Event>> {
        self.queue.lock().events.pop_front()
    }

    /// Sleeps `wait`, or less once the subscription is closed; `true` when closed. (A
    /// delivery thread's pause between retries, which must not hold up the shutdown.)
    pub fn sleep_unless_closed(&self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let mut state = self.queue.lock();
        loop {
            if state.closed {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = match self.queue.ready.wait_timeout(state, left) {
                Ok((s, _)) => s,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Whether the bus closed or dropped this subscriber (queued events may remain).
    pub fn is_closed(&self) -> bool {
        self.queue.lock().closed
    }

    /// Whether it was dropped for falling behind ([`Overflow::Disconnect`]).
    pub fn was_disconnected(&self) -> bool {
        self.queue.lock().disconnected
    }

    /// Events dropped from this queue so far because it was full.
    pub fn dropped(&self) -> u64 {
        self.queue.lock().dropped
    }

    /// Events waiting in the queue.
    pub fn queued(&self) -> usize {
        self.queue.lock().events.len()
    }

    /// Closes this subscription alone (the bus drops it at once).
    pub fn close(&self) {
        self.queue.close();
        self.leave();
    }

    fn leave(&self) {
        if let Some(bus) = self.bus.upgrade() {
            bus.lock()
                .subscribers
                .retain(|q| !Arc::ptr_eq(q, &self.queue));
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use modem_core::urc::DtmfKey;

    fn sms(n: u32) -> EventKind {
        EventKind::SmsReceived {
            from: "+491761234567".into(),
            text: format!("message {n}"),
            time: "2026-11-24T06:00:00Z".into(),
        }
    }

    fn text_of(r: Recv) -> String {
        match r {
            Recv::Event(e) => match &e.kind {
                EventKind::SmsReceived { text, .. } => text.clone(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_subscriber_gets_every_event_in_order_with_growing_ids() {
        let bus = EventBus::new();
        let a = bus.subscribe("webhook", 16, Overflow::DropOldest);
        let b = bus.subscribe("sse", 16, Overflow::Disconnect);
        for n in 0..3 {
            bus.publish(None, sms(n));
        }
        for sub in [&a, &b] {
            let ids: Vec<u64> = (0..3)
                .map(|_| match sub.recv_timeout(Duration::ZERO) {
                    Recv::Event(e) => e.id,
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(ids, [1, 2, 3]);
            assert_eq!(sub.recv_timeout(Duration::ZERO), Recv::Timeout);
        }
    }

    #[test]
    fn a_full_webhook_queue_drops_the_oldest_and_counts_it_and_publishing_goes_on() {
        let bus = EventBus::new();
        let slow = bus.subscribe("webhook", 2, Overflow::DropOldest);
        for n in 0..5 {
            bus.publish(None, sms(n));
        }
        assert_eq!(slow.dropped(), 3);
        assert_eq!(text_of(slow.recv_timeout(Duration::ZERO)), "message 3");
        assert_eq!(text_of(slow.recv_timeout(Duration::ZERO)), "message 4");
        assert_eq!(bus.subscriber_count(), 1);
    }

    #[test]
    fn an_sse_client_that_falls_behind_is_dropped_and_told_after_what_it_had() {
        let bus = EventBus::new();
        let client = bus.subscribe("sse", 2, Overflow::Disconnect);
        for n in 0..3 {
            bus.publish(None, sms(n));
        }
        assert_eq!(bus.subscriber_count(), 0);
        assert!(client.was_disconnected());
        assert_eq!(text_of(client.recv_timeout(Duration::ZERO)), "message 0");
        assert_eq!(text_of(client.recv_timeout(Duration::ZERO)), "message 1");
        assert_eq!(client.recv_timeout(Duration::from_secs(5)), Recv::Closed);
    }

    #[test]
    fn a_waiting_subscriber_wakes_when_an_event_is_published_from_another_thread() {
        let bus = EventBus::new();
        let sub = bus.subscribe("webhook", 4, Overflow::DropOldest);
        let publisher = bus.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            publisher.publish(None, sms(1));
        });
        let started = Instant::now();
        assert_eq!(
            text_of(sub.recv_timeout(Duration::from_secs(10))),
            "message 1"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        t.join().unwrap();
    }

    #[test]
    fn closing_the_bus_hands_out_what_is_queued_then_closed() {
        let bus = EventBus::new();
        let sub = bus.subscribe("webhook", 4, Overflow::DropOldest);
        bus.publish(None, sms(1));
        bus.close();
        assert!(sub.is_closed());
        assert!(sub.sleep_unless_closed(Duration::from_secs(10)));
        assert_eq!(text_of(sub.recv_timeout(Duration::ZERO)), "message 1");
        assert_eq!(sub.recv_timeout(Duration::ZERO), Recv::Closed);
        let late = bus.subscribe("sse", 4, Overflow::Disconnect);
        assert_eq!(late.recv_timeout(Duration::ZERO), Recv::Closed);
        assert_eq!(
            bus.subscribe_limited("sse", 4, Overflow::Disconnect, 8)
                .unwrap_err(),
            SubscribeError::Closed
        );
    }

    #[test]
    fn a_dropped_subscription_leaves_the_bus_and_a_limit_counts_only_its_kind() {
        let bus = EventBus::new();
        let _hook = bus.subscribe("webhook", 4, Overflow::DropOldest);
        let first = bus
            .subscribe_limited("sse", 4, Overflow::Disconnect, 1)
            .unwrap();
        assert!(matches!(
            bus.subscribe_limited("sse", 4, Overflow::Disconnect, 1),
            Err(SubscribeError::Full { max: 1, .. })
        ));
        drop(first);
        assert_eq!(bus.subscriber_count(), 1);
        bus.subscribe_limited("sse", 4, Overflow::Disconnect, 1)
            .unwrap();
    }

    #[test]
    fn call_events_carry_the_calls_id_and_sms_none() {
        let bus = EventBus::new();
        let ring = bus.call_event(&CallEvent::Ringing {
            ring: 1,
            caller: modem_core::call::Caller::Unknown,
        });
        let key = bus.call_event(&CallEvent::Dtmf {
            key: DtmfKey::from_ascii(b'1').unwrap(),
        });
        let text = bus.publish(None, sms(1));
        assert_eq!(
            (ring.call_id, key.call_id, text.call_id),
            (Some(1), Some(1), None)
        );
        assert_eq!((ring.id, key.id, text.id), (1, 2, 3));
        assert!(
            ring.at.ends_with('Z') && ring.at.contains('.'),
            "{}",
            ring.at
        );
    }
}
