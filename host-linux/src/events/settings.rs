//! The `[events]` table of the configuration file: where webhooks go and how hard the bot
//! tries to deliver them.
//!
//! This module owns [`EventsSettings`], its defaults and its validation (each error names
//! the key). Only plain `http://` URLs are accepted: the bot is built without a TLS stack
//! (it stays small, and webhooks usually go to a program on the same machine or LAN); an
//! `https://` URL is refused at start with that reason rather than failing at each event.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Default per-attempt timeout of a webhook POST (connect, send, answer), in ms.
pub const DEFAULT_TIMEOUT_MS: u64 = 5000;
/// Longest accepted per-attempt timeout, in ms.
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// Default retries after a failed first attempt.
pub const DEFAULT_RETRIES: u32 = 3;
/// Most retries accepted.
pub const MAX_RETRIES: u32 = 10;
/// Default first pause before a retry, in ms (doubling after each).
pub const DEFAULT_RETRY_INITIAL_MS: u64 = 500;
/// Default longest pause between retries, in ms.
pub const DEFAULT_RETRY_MAX_MS: u64 = 10_000;
/// Longest accepted pause between retries, in ms.
pub const MAX_RETRY_MS: u64 = 300_000;
/// Default length of each webhook URL's queue, in events.
pub const DEFAULT_QUEUE_LEN: usize = 256;
/// Longest accepted queue, in events.
pub const MAX_QUEUE_LEN: usize = 100_000;
/// Most webhook URLs accepted (each has its own delivery thread).
pub const MAX_WEBHOOKS: usize = 16;

/// The `[events]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsSettings {
    /// Each URL receives every event as a JSON POST (empty: no webhooks).
    pub webhooks: Vec<String>,
    /// Per attempt: connecting, sending and reading the answer, in ms.
    pub timeout_ms: u64,
    /// Retries after a failed first attempt (a transport error, 408, 429 or 5xx).
    pub retries: u32,
    /// First pause before a retry, in ms; it doubles after each retry.
    pub retry_initial_ms: u64,
    /// Longest pause between retries, in ms.
    pub retry_max_ms: u64,
    /// Events waiting per URL; beyond it the oldest undelivered one is dropped.
    pub queue_len: usize,
}

impl Default for EventsSettings {
    fn default() -> Self {
        Self {
            webhooks: Vec::new(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            retries: DEFAULT_RETRIES,
            retry_initial_ms: DEFAULT_RETRY_INITIAL_MS,
            retry_max_ms: DEFAULT_RETRY_MAX_MS,
            queue_len: DEFAULT_QUEUE_LEN,
        }
    }
}

/// An `[events]` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[events] {key}: {problem}")]
pub struct EventsSettingsError {
    /// The key.
    pub key: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

fn range<T: PartialOrd + std::fmt::Display>(
    key: &'static str,
    value: T,
    min: T,
    max: T,
) -> Result<(), EventsSettingsError> {
    if value < min || value > max {
        return Err(EventsSettingsError {
            key,
            problem: format!("{value} is out of range: allowed {min}..={max}"),
        });
    }
    Ok(())
}

/// Checks one webhook URL: `http://host[:port]/path`, nothing else.
pub fn check_webhook_url(url: &str) -> Result<(), String> {
    if !url.contains("://") {
        return Err(format!(
            "{url:?} has no scheme: write http://host:port/path"
        ));
    }
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "{url:?}: https is not supported (the bot has no TLS stack); use http to a \
                 local receiver or relay"
            ));
        }
        Some(other) => return Err(format!("{url:?}: scheme {other:?} is not http")),
        None => {
            return Err(format!(
                "{url:?} has no scheme: write http://host:port/path"
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("{url:?} has no host"));
    }
    Ok(())
}

impl EventsSettings {
    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), EventsSettingsError> {
        if self.webhooks.len() > MAX_WEBHOOKS {
            return Err(EventsSettingsError {
                key: "webhooks",
                problem: format!(
                    "{} URLs; at most {MAX_WEBHOOKS} are allowed",
                    self.webhooks.len()
                ),
            });
        }
        for (n, url) in self.webhooks.iter().enumerate() {
            if self.webhooks[..n].contains(url) {
                return Err(EventsSettingsError {
                    key: "webhooks",
                    problem: format!("{url:?} is listed twice"),
                });
            }
            check_webhook_url(url).map_err(|problem| EventsSettingsError {
                key: "webhooks",
                problem,
            })?;
        }
        range("timeout_ms", self.timeout_ms, 1, MAX_TIMEOUT_MS)?;
        range("retries", self.retries, 0, MAX_RETRIES)?;
        range("retry_initial_ms", self.retry_initial_ms, 1, MAX_RETRY_MS)?;
        range(
            "retry_max_ms",
            self.retry_max_ms,
            self.retry_initial_ms,
            MAX_RETRY_MS,
        )?;
        range("queue_len", self.queue_len, 1, MAX_QUEUE_LEN)?;
        Ok(())
    }

    /// The per-attempt timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// The retry policy.
    pub fn retry(&self) -> RetryPolicy {
        RetryPolicy {
            retries: self.retries,
            initial: Duration::from_millis(self.retry_initial_ms),
            max: Duration::from_millis(self.retry_max_ms),
        }
    }
}

/// How often and how patiently one event is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// The first pause.
    pub initial: Duration,
    /// The longest pause.
    pub max: Duration,
}

impl RetryPolicy {
    /// The pause before retry `n` (1 for the first retry), or `None` when the attempts
    /// are used up: `initial * 2^(n-1)`, at most `max`.
    pub fn pause_before(&self, n: u32) -> Option<Duration> {
        if n == 0 || n > self.retries {
            return None;
        }
        let factor = 1u32.checked_shl(n - 1).unwrap_or(u32::MAX);
        Some(self.initial.saturating_mul(factor).min(self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_send_nowhere() {
        let s = EventsSettings::default();
        s.validate().unwrap();
        assert!(s.webhooks.is_empty());
    }

    #[test]
    fn a_table_is_read_from_toml() {
        let s: EventsSettings = toml::from_str(
            "webhooks = [\"http://127.0.0.1:9000/hook\", \"http://10.0.0.2/x\"]\nretries = 2\n",
        )
        .unwrap();
        s.validate().unwrap();
        assert_eq!(s.webhooks.len(), 2);
        assert_eq!(s.retries, 2);
        assert_eq!(s.timeout_ms, DEFAULT_TIMEOUT_MS);
    }

    #[test]
    fn a_bad_url_is_refused_naming_the_key_and_the_url() {
        for (url, says) in [
            ("https://example.com/hook", "https is not supported"),
            ("ftp://example.com/", "not http"),
            ("localhost:9000/hook", "no scheme"),
            ("http://", "not a URL"),
            ("not a url", "no scheme"),
        ] {
            let s = EventsSettings {
                webhooks: vec![url.into()],
                ..EventsSettings::default()
            };
            let e = s.validate().unwrap_err().to_string();
            assert!(
                e.starts_with("[events] webhooks:") && e.contains(says),
                "{url}: {e}"
            );
        }
    }

    #[test]
    fn a_url_listed_twice_is_refused() {
        let s = EventsSettings {
            webhooks: vec!["http://a/x".into(), "http://a/x".into()],
            ..EventsSettings::default()
        };
        assert!(s.validate().unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn out_of_range_numbers_are_refused_naming_the_key() {
        let zero_timeout = EventsSettings {
            timeout_ms: 0,
            ..EventsSettings::default()
        };
        assert!(
            zero_timeout
                .validate()
                .unwrap_err()
                .to_string()
                .contains("timeout_ms")
        );
        let no_queue = EventsSettings {
            queue_len: 0,
            ..EventsSettings::default()
        };
        assert!(
            no_queue
                .validate()
                .unwrap_err()
                .to_string()
                .contains("queue_len")
        );
        let max_below_initial = EventsSettings {
            retry_initial_ms: 1000,
            retry_max_ms: 10,
            ..EventsSettings::default()
        };
        assert!(
            max_below_initial
                .validate()
                .unwrap_err()
                .to_string()
                .contains("retry_max_ms")
        );
    }

    #[test]
    fn retries_double_up_to_the_longest_pause_and_stop_after_the_last() {
        let p = RetryPolicy {
            retries: 4,
            initial: Duration::from_millis(500),
            max: Duration::from_millis(1500),
        };
        let pauses: Vec<_> = (1..=5).map(|n| p.pause_before(n)).collect();
        assert_eq!(
            pauses,
            [
                Some(Duration::from_millis(500)),
                Some(Duration::from_millis(1000)),
                Some(Duration::from_millis(1500)),
                Some(Duration::from_millis(1500)),
                None
            ]
        );
        assert_eq!(p.pause_before(0), None);
    }
}
