//! The `system` part of `GET /status` (what `sim7600 status` tells: smstools' state, the
//! port's holders, the restore markers), kept so that a request does not pay for
//! gathering it.
//!
//! Gathering runs the smstools backend's status command (`systemctl`, or the configured
//! script) and reads every process's descriptors in /proc: tens of milliseconds on a busy
//! machine, a process started each time. This module owns the one copy of the last view
//! and when it is gathered again ([`cached`]):
//! - a view younger than [`FRESH`] is answered as it is;
//! - one between [`FRESH`] and [`MAX_AGE`] old is answered as it is while a thread of its
//!   own (`status-view`, one at a time) gathers the next, so a client that asks often never
//!   waits for a gathering;
//! - one older than [`MAX_AGE`], or gathered under another key than the caller's now (the
//!   bot's phase and reconnect count: the bot took the port, gave it back, or reopened
//!   it), is gathered afresh before the answer; callers that come meanwhile wait for that
//!   one gathering instead of starting their own.
//!
//! So every answer is at most [`MAX_AGE`] (plus one gathering) old, and a change the bot
//! makes itself shows at once.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::routes::SystemStatus;

/// A view younger than this is answered without gathering.
pub const FRESH: Duration = Duration::from_secs(1);
/// A view older than this is never answered: the request gathers a new one.
pub const MAX_AGE: Duration = Duration::from_secs(2);

/// The last view and whether a gathering is under way.
struct Cache<K> {
    last: Option<Gathered<K>>,
    gathering: bool,
}

struct Gathered<K> {
    view: Value,
    at: Instant,
    key: K,
}

struct Shared<K> {
    cache: Mutex<Cache<K>>,
    /// Told when a gathering ends.
    gathered: Condvar,
    gather: Box<dyn Fn() -> Value + Send + Sync>,
    key: Box<dyn Fn() -> K + Send + Sync>,
}

/// What a call does with the view it found.
enum Plan {
    /// Answer this.
    Answer(Value),
    /// Answer this, and gather the next view on a thread.
    AnswerAndRefresh(Value),
    /// Gather now, on the caller's thread, and answer that.
    Gather,
    /// Wait for the gathering under way.
    Wait,
}

/// `gather` behind the cache described in the module docs; `key` tells which state of
/// the bot a view belongs to (a view gathered under another key is not answered).
pub fn cached<K>(
    gather: impl Fn() -> Value + Send + Sync + 'static,
    key: impl Fn() -> K + Send + Sync + 'static,
) -> SystemStatus
where
    K: PartialEq + Send + 'static,
{
    let shared = Arc::new(Shared {
        cache: Mutex::new(Cache {
            last: None,
            gathering: false,
        }),
        gathered: Condvar::new(),
        gather: Box::new(gather),
        key: Box::new(key),
    });
    Arc::new(move || view(&shared))
}

fn lock<K>(shared: &Shared<K>) -> MutexGuard<'_, Cache<K>> {
    // The cache holds plain data, consistent after any panic.
    shared.cache.lock().unwrap_or_else(PoisonError::into_inner)
}

fn view<K: PartialEq + Send + 'static>(shared: &Arc<Shared<K>>) -> Value {
    let key = (shared.key)();
    let mut cache = lock(shared);
    loop {
        let plan = match &cache.last {
            Some(last) if last.key == key && last.at.elapsed() < FRESH => {
                Plan::Answer(last.view.clone())
            }
            Some(last) if last.key == key && last.at.elapsed() < MAX_AGE => {
                if cache.gathering {
                    Plan::Answer(last.view.clone())
                } else {
                    Plan::AnswerAndRefresh(last.view.clone())
                }
            }
            _ if cache.gathering => Plan::Wait,
            _ => Plan::Gather,
        };
        match plan {
            Plan::Answer(view) => return view,
            Plan::AnswerAndRefresh(view) => {
                cache.gathering = true;
                drop(cache);
                refresh_in_background(shared);
                return view;
            }
            Plan::Wait => {
                cache = shared
                    .gathered
                    .wait(cache)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            Plan::Gather => {
                cache.gathering = true;
                drop(cache);
                return gather_now(shared, key);
            }
        }
    }
}

/// Gathers a view under `key` (read before the gathering began: a change meanwhile makes
/// the next caller gather again), stores it and tells the waiters. A panicking gathering
/// still ends the wait (the guard).
fn gather_now<K>(shared: &Shared<K>, key: K) -> Value {
    struct Ending<'a, K>(&'a Shared<K>);
    impl<K> Drop for Ending<'_, K> {
        fn drop(&mut self) {
            lock(self.0).gathering = false;
            self.0.gathered.notify_all();
        }
    }
    let ending = Ending(shared);
    let view = (shared.gather)();
    lock(shared).last = Some(Gathered {
        view: view.clone(),
        at: Instant::now(),
        key,
    });
    drop(ending);
    view
}

fn refresh_in_background<K: PartialEq + Send + 'static>(shared: &Arc<Shared<K>>) {
    let for_thread = Arc::clone(shared);
    let started = std::thread::Builder::new()
        .name("status-view".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            let key = (for_thread.key)();
            gather_now(&for_thread, key);
        });
    if let Err(e) = started {
        // The view answered stays until MAX_AGE; then a request gathers it itself.
        log::warn!("cannot start a thread to gather the status view: {e}");
        lock(shared).gathering = false;
        shared.gathered.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

    /// A gathering that counts its calls, answers the count, and takes `takes`.
    fn counting(takes: Duration) -> (Arc<AtomicUsize>, impl Fn() -> Value + Send + Sync) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        (calls, move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            std::thread::sleep(takes);
            Value::from(n)
        })
    }

    fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let started = Instant::now();
        while !done() {
            assert!(started.elapsed() < Duration::from_secs(10), "{what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_fresh_view_is_answered_without_gathering() {
        let (calls, gather) = counting(Duration::ZERO);
        let status = cached(gather, || 0);
        assert_eq!(status(), Value::from(1));
        for _ in 0..100 {
            assert_eq!(status(), Value::from(1));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn an_aging_view_is_answered_at_once_while_the_next_is_gathered_on_a_thread() {
        let (calls, gather) = counting(Duration::from_millis(300));
        let status = cached(gather, || 0);
        assert_eq!(status(), Value::from(1));
        std::thread::sleep(FRESH);
        let asked = Instant::now();
        assert_eq!(status(), Value::from(1), "the aging view, not a new one");
        assert!(
            asked.elapsed() < Duration::from_millis(150),
            "the caller did not wait for the gathering: {:?}",
            asked.elapsed()
        );
        // One gathering in the background, however many ask meanwhile.
        for _ in 0..20 {
            assert_eq!(status(), Value::from(1));
        }
        wait_until("the background gathering", || status() == 2);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_view_older_than_the_limit_is_never_answered() {
        let (calls, gather) = counting(Duration::ZERO);
        let status = cached(gather, || 0);
        assert_eq!(status(), Value::from(1));
        std::thread::sleep(MAX_AGE);
        assert_eq!(status(), Value::from(2), "gathered afresh for this caller");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_change_of_the_bots_state_is_gathered_at_once() {
        let (calls, gather) = counting(Duration::ZERO);
        let phase = Arc::new(AtomicU32::new(0));
        let key = Arc::clone(&phase);
        let status = cached(gather, move || key.load(Ordering::SeqCst));
        assert_eq!(status(), Value::from(1));
        assert_eq!(status(), Value::from(1));
        phase.store(1, Ordering::SeqCst);
        assert_eq!(
            status(),
            Value::from(2),
            "the bot took the port: a new view"
        );
        assert_eq!(status(), Value::from(2));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn callers_that_come_during_a_gathering_wait_for_that_one() {
        let (calls, gather) = counting(Duration::from_millis(200));
        let status = cached(gather, || 0);
        let answers: Vec<Value> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..6).map(|_| s.spawn(|| status())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(answers.iter().all(|a| *a == 1), "{answers:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_gathering_that_panics_does_not_leave_the_others_waiting() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let status = cached(
            move || {
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("the first gathering fails");
                }
                Value::from("ok")
            },
            || 0,
        );
        let first = std::thread::spawn({
            let status = Arc::clone(&status);
            move || status()
        });
        assert!(first.join().is_err());
        assert_eq!(status(), Value::from("ok"));
    }
}
