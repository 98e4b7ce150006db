//! Telling systemd how the bot is (`Type=notify`, `WatchdogSec=`), through the
//! `sd-notify` crate, which writes to `$NOTIFY_SOCKET` and does nothing without it.
//!
//! This module owns the notify messages: `READY=1` once the modem is initialised,
//! `STATUS=` lines a person sees in `systemctl status`, `WATCHDOG=1` after each health
//! check the modem answered (so a bot whose modem went silent is restarted by systemd
//! rather than left hanging), `EXTEND_TIMEOUT_USEC=` while the bot waits at start for a
//! modem that comes late, `STOPPING=1` on the way out. The keep-alive
//! period is derived from `WATCHDOG_USEC`: [`health_interval`] makes the health check at
//! least three times as frequent as the watchdog's timeout.

use std::time::Duration;

use sd_notify::NotifyState;

/// Where the bot's life events go: systemd in production, a recorder in tests.
pub trait Notifier: std::fmt::Debug + Send + Sync {
    /// The modem is initialised and the bot serves: `READY=1`.
    fn ready(&self, status: &str);
    /// A line for `systemctl status`.
    fn status(&self, status: &str);
    /// The modem answered a health check: `WATCHDOG=1`.
    fn alive(&self);
    /// The bot is giving the port back: `STOPPING=1`.
    fn stopping(&self);
    /// The start goes on (waiting for a modem that comes late) for up to `by` more:
    /// `EXTEND_TIMEOUT_USEC=`.
    fn extend_start(&self, by: Duration) {
        let _ = by;
    }
}

/// The notifier that talks to systemd (silent when not started by systemd).
#[derive(Debug, Clone, Copy, Default)]
pub struct Systemd;

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        log::warn!("cannot notify systemd: {e}");
    }
}

impl Notifier for Systemd {
    fn ready(&self, status: &str) {
        send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }
    fn status(&self, status: &str) {
        send(&[NotifyState::Status(status)]);
    }
    fn alive(&self) {
        send(&[NotifyState::Watchdog]);
    }
    fn stopping(&self) {
        send(&[NotifyState::Stopping]);
    }
    fn extend_start(&self, by: Duration) {
        let usec = u32::try_from(by.as_micros()).unwrap_or(u32::MAX);
        send(&[NotifyState::ExtendTimeoutUsec(usec)]);
    }
}

/// The watchdog timeout systemd gave this process (`WATCHDOG_USEC`), if any.
pub fn watchdog_timeout() -> Option<Duration> {
    let mut usec = 0u64;
    sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec))
}

/// The health check period: the configured one, shortened to a third of the watchdog's
/// timeout so that two checks may fail (or take their full timeout) before systemd
/// concludes the bot hangs.
pub fn health_interval(configured: Duration, watchdog: Option<Duration>) -> Duration {
    match watchdog {
        Some(w) => configured.min(w / 3).max(Duration::from_secs(1)),
        None => configured,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_watchdog_the_configured_period_stands() {
        let d = Duration::from_secs(30);
        assert_eq!(health_interval(d, None), d);
    }

    #[test]
    fn a_short_watchdog_shortens_the_health_check_to_a_third() {
        assert_eq!(
            health_interval(Duration::from_secs(30), Some(Duration::from_secs(60))),
            Duration::from_secs(20)
        );
        assert_eq!(
            health_interval(Duration::from_secs(30), Some(Duration::from_secs(120))),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn the_health_check_never_runs_more_than_once_a_second() {
        assert_eq!(
            health_interval(Duration::from_secs(30), Some(Duration::from_millis(900))),
            Duration::from_secs(1)
        );
    }
}
