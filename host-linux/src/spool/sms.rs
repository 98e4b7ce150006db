//! The retry rule of the SMS sender, sans-I/O: when to try a message again.
//!
//! The bot's loop drains the durable queue ([`crate::spool::queue::SmsQueue`]) part by part
//! through the driver. What a failed part means for the message is modem-core's
//! [`modem_core::driver::SendFailure`] (nothing sent, so it may be retried; maybe sent, so
//! it is failed, at most once as the queue's crash rules say; or never sendable); this
//! module owns the backoff for the retries, with a unit test:
//! - [`retry_delay`]: exponential backoff from `sms_retry_initial_s`, doubling per attempt,
//!   capped at `sms_retry_max_s`; after `sms_max_attempts` the message is failed with the
//!   modem's last error.

use std::time::Duration;

/// What to do after a definite failure of a message's `attempts`-th try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Queue it again, due after this pause.
    RetryAfter(Duration),
    /// Give it up.
    GiveUp,
}

/// The backoff rule: see the module documentation. `attempts` counts the tries made so
/// far (1 after the first).
pub fn retry_delay(attempts: u32, max_attempts: u32, initial: Duration, max: Duration) -> Next {
    if attempts >= max_attempts {
        return Next::GiveUp;
    }
    let doublings = attempts.saturating_sub(1).min(31);
    let delay = initial.saturating_mul(1u32 << doublings).min(max);
    Next::RetryAfter(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_doubling_to_the_cap_then_give_up() {
        let s = Duration::from_secs;
        let next = |a| retry_delay(a, 5, s(5), s(30));
        assert_eq!(next(1), Next::RetryAfter(s(5)));
        assert_eq!(next(2), Next::RetryAfter(s(10)));
        assert_eq!(next(3), Next::RetryAfter(s(20)));
        assert_eq!(next(4), Next::RetryAfter(s(30)));
        assert_eq!(next(5), Next::GiveUp);
        assert_eq!(
            retry_delay(u32::MAX - 1, u32::MAX, s(5), s(30)),
            Next::RetryAfter(s(30))
        );
    }
}
