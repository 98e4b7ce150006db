//! The decisions of the SMS sender, sans-I/O: what a failed `AT+CMGS` means for the
//! message, and when to try again.
//!
//! The bot's loop drains the durable queue ([`crate::spool::queue::SmsQueue`]) part by part
//! through the driver; this module owns only the rules, so each has a unit test:
//! - [`classify`]: a failure before the body left the host (`AT+CMGF`, the `AT+CMGS`
//!   prompt), or the modem's own refusal of the body (`ERROR`, `+CMS ERROR`), is
//!   *definite*: nothing of that part was sent, so it may be retried. A timeout or a broken
//!   port after the body was written is *unknown*: the part may have gone out, and sending
//!   it again could deliver it twice, so the message is failed (at most once, as the queue's
//!   crash rules say). An argument the driver refused is *permanent*.
//! - [`retry_delay`]: exponential backoff from `sms_retry_initial_s`, doubling per attempt,
//!   capped at `sms_retry_max_s`; after `sms_max_attempts` the message is failed with the
//!   modem's last error.

use std::time::Duration;

use modem_core::driver::{Error, ErrorKind};

/// The driver's name for the body write of `AT+CMGS` (after the `> ` prompt).
pub const BODY_COMMAND: &str = "AT+CMGS body";

/// What a failed part send means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Nothing of the part was sent: it may be sent again.
    Definite,
    /// The part may have been sent: never send it again.
    Unknown,
    /// The part can never be sent (the driver refused its arguments).
    Permanent,
}

/// Classifies a failed part send (see the module documentation).
pub fn classify(error: &Error) -> Failure {
    if matches!(error.kind, ErrorKind::InvalidArgument(_)) {
        return Failure::Permanent;
    }
    if error.command != BODY_COMMAND {
        // AT+CMGF or the AT+CMGS prompt: the body never left the host.
        return Failure::Definite;
    }
    match error.kind {
        ErrorKind::Error | ErrorKind::Cme(_) | ErrorKind::Cms(_) | ErrorKind::ErrorText(_) => {
            Failure::Definite
        }
        _ => Failure::Unknown,
    }
}

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

    fn err(command: &'static str, kind: ErrorKind) -> Error {
        Error::new(command, kind)
    }

    #[test]
    fn a_refusal_of_the_body_is_definite_and_may_be_retried() {
        assert_eq!(
            classify(&err(BODY_COMMAND, ErrorKind::Cms(500))),
            Failure::Definite
        );
        assert_eq!(
            classify(&err(BODY_COMMAND, ErrorKind::Error)),
            Failure::Definite
        );
    }

    #[test]
    fn a_timeout_before_the_prompt_is_definite() {
        assert_eq!(
            classify(&err("AT+CMGS", ErrorKind::Timeout)),
            Failure::Definite
        );
        assert_eq!(
            classify(&err("AT+CMGF", ErrorKind::Write)),
            Failure::Definite
        );
    }

    #[test]
    fn a_timeout_or_a_broken_port_after_the_body_is_unknown() {
        assert_eq!(
            classify(&err(BODY_COMMAND, ErrorKind::Timeout)),
            Failure::Unknown
        );
        assert_eq!(
            classify(&err(BODY_COMMAND, ErrorKind::Write)),
            Failure::Unknown
        );
    }

    #[test]
    fn a_refused_argument_is_permanent() {
        let e = Error::invalid("AT+CMGS", "pdu_hex", "is longer than 352 hex digits");
        assert_eq!(classify(&e), Failure::Permanent);
    }

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
