//! Bringing back a modem that stopped answering, in escalating steps, each bounded:
//!
//! 1. **re-open**: the port is opened (or the modem re-initialised) again, for the bot's
//!    `reopen_timeout_s`;
//! 2. **modem reset**: the reset the config names (`AT+CFUN=1,1`), then the modem is
//!    looked for again (by its USB path, its IMEI checked at init) for
//!    `reenumerate_timeout_s`;
//! 3. **USB reset**: the modem's USB device is de-authorized and authorized again through
//!    sysfs, then looked for again for `reenumerate_timeout_s`;
//! 4. given up: the bot ends (exit 5) and smstools gets the port back.
//!
//! A step that cannot apply is skipped: no reset command without an open descriptor to
//! send it on, or with `modem_reset = "none"`; no USB reset without a USB path or with
//! `usb_reset = false`. This module is the decision only ([`Supervisor`], sans-I/O: time
//! in, actions and events out); the bot's reconnect path carries the actions out.

use std::time::Duration;

use serde::Serialize;

/// The steps, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Re-open the port, re-initialise the modem.
    Reopen,
    /// The reset command, then look for the modem again.
    ModemReset,
    /// The USB reset, then look for the modem again.
    UsbReset,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::Reopen => "re-open",
            Step::ModemReset => "modem reset",
            Step::UsbReset => "USB reset",
        })
    }
}

/// What the supervisor may do, fixed when the loss begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// How long step 1 lasts.
    pub reopen_for: Duration,
    /// Whether a reset command is configured (`modem_reset = "cfun"`).
    pub modem_reset: bool,
    /// Whether a USB reset is allowed and the USB path known.
    pub usb_reset: bool,
    /// How long steps 2 and 3 wait for the modem after their reset.
    pub reenumerate_for: Duration,
}

/// What the bot's reconnect path is to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Try again to open the port and initialise the modem (after the usual pause).
    TryAgain,
    /// Send the reset command on the descriptor still open, then try again.
    ResetModem,
    /// Reset the modem's USB device, then try again.
    ResetUsb,
    /// Every step is spent: the modem is lost for good.
    GiveUp,
}

/// What the supervisor reports, for the log and the event bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "supervisor", rename_all = "snake_case")]
pub enum SupervisorEvent {
    /// A step begins (`reason`: why the one before did not do).
    StepStarted {
        /// The step.
        step: Step,
        /// Its bound in seconds.
        bound_s: u64,
    },
    /// A step was skipped.
    StepSkipped {
        /// The step.
        step: Step,
        /// Why.
        why: &'static str,
    },
    /// The modem answers again.
    Recovered {
        /// The step that brought it back.
        step: Step,
        /// Since the loss, in milliseconds.
        after_ms: u64,
    },
    /// Every step is spent.
    GaveUp {
        /// Since the loss, in milliseconds.
        after_ms: u64,
    },
}

/// The escalation of one loss; see the module documentation. Times are milliseconds on
/// the caller's monotonic clock.
#[derive(Debug, Clone)]
pub struct Supervisor {
    plan: Plan,
    step: Option<Step>,
    lost_at: u64,
    step_until: u64,
    events: Vec<SupervisorEvent>,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Supervisor {
    /// A loss at `now`: step 1 begins.
    pub fn new(plan: Plan, now: u64) -> Self {
        let mut s = Supervisor {
            plan,
            step: Some(Step::Reopen),
            lost_at: now,
            step_until: now.saturating_add(ms(plan.reopen_for)),
            events: Vec::new(),
        };
        s.events.push(SupervisorEvent::StepStarted {
            step: Step::Reopen,
            bound_s: plan.reopen_for.as_secs(),
        });
        s
    }

    /// The step in progress (`None`: given up).
    pub fn step(&self) -> Option<Step> {
        self.step
    }

    /// The events since the last call.
    pub fn take_events(&mut self) -> Vec<SupervisorEvent> {
        std::mem::take(&mut self.events)
    }

    /// A try failed at `now`; `descriptor_open`: the port's descriptor is still open (the
    /// modem went silent; a reset command can be sent on it). Returns what to do next.
    pub fn after_failed_try(&mut self, now: u64, descriptor_open: bool) -> Action {
        if self.step.is_some() && now < self.step_until {
            return Action::TryAgain;
        }
        self.escalate(now, descriptor_open)
    }

    /// The step's own action failed (the reset could not be sent or written): on to the
    /// next step at once.
    pub fn action_failed(&mut self, now: u64) -> Action {
        self.escalate(now, false)
    }

    fn escalate(&mut self, now: u64, descriptor_open: bool) -> Action {
        let mut next = match self.step {
            Some(Step::Reopen) => Some(Step::ModemReset),
            Some(Step::ModemReset) => Some(Step::UsbReset),
            Some(Step::UsbReset) | None => None,
        };
        while let Some(step) = next {
            let skip = match step {
                Step::ModemReset if !self.plan.modem_reset => Some("no reset command configured"),
                Step::ModemReset if !descriptor_open => {
                    Some("the port is gone: no descriptor to send the reset on")
                }
                Step::UsbReset if !self.plan.usb_reset => {
                    Some("USB reset not allowed or the USB path unknown")
                }
                _ => None,
            };
            if let Some(why) = skip {
                self.events.push(SupervisorEvent::StepSkipped { step, why });
                next = match step {
                    Step::ModemReset => Some(Step::UsbReset),
                    _ => None,
                };
                continue;
            }
            self.step = Some(step);
            self.step_until = now.saturating_add(ms(self.plan.reenumerate_for));
            self.events.push(SupervisorEvent::StepStarted {
                step,
                bound_s: self.plan.reenumerate_for.as_secs(),
            });
            return match step {
                Step::ModemReset => Action::ResetModem,
                Step::UsbReset => Action::ResetUsb,
                Step::Reopen => Action::TryAgain,
            };
        }
        if self.step.take().is_some() {
            self.events.push(SupervisorEvent::GaveUp {
                after_ms: now.saturating_sub(self.lost_at),
            });
        }
        Action::GiveUp
    }

    /// The modem answers again at `now`.
    pub fn recovered(&mut self, now: u64) {
        if let Some(step) = self.step {
            self.events.push(SupervisorEvent::Recovered {
                step,
                after_ms: now.saturating_sub(self.lost_at),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(modem_reset: bool, usb_reset: bool) -> Plan {
        Plan {
            reopen_for: Duration::from_secs(10),
            modem_reset,
            usb_reset,
            reenumerate_for: Duration::from_secs(60),
        }
    }

    #[test]
    fn a_silent_modem_goes_through_every_step_in_order_then_gives_up() {
        let mut s = Supervisor::new(plan(true, true), 1_000);
        assert_eq!(s.after_failed_try(5_000, true), Action::TryAgain);
        assert_eq!(s.after_failed_try(10_999, true), Action::TryAgain);
        assert_eq!(s.after_failed_try(11_000, true), Action::ResetModem);
        assert_eq!(s.step(), Some(Step::ModemReset));
        assert_eq!(s.after_failed_try(70_999, false), Action::TryAgain);
        assert_eq!(s.after_failed_try(71_000, false), Action::ResetUsb);
        assert_eq!(s.after_failed_try(100_000, false), Action::TryAgain);
        assert_eq!(s.after_failed_try(131_000, false), Action::GiveUp);
        assert_eq!(s.step(), None);
        let events = s.take_events();
        let steps: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                SupervisorEvent::StepStarted { step, .. } => Some(*step),
                _ => None,
            })
            .collect();
        assert_eq!(steps, [Step::Reopen, Step::ModemReset, Step::UsbReset]);
        assert_eq!(
            events.last(),
            Some(&SupervisorEvent::GaveUp { after_ms: 130_000 })
        );
        // Given up stays given up.
        assert_eq!(s.after_failed_try(200_000, true), Action::GiveUp);
        assert!(s.take_events().is_empty());
    }

    #[test]
    fn a_vanished_port_skips_the_reset_command() {
        let mut s = Supervisor::new(plan(true, true), 0);
        assert_eq!(s.after_failed_try(10_000, false), Action::ResetUsb);
        assert!(s.take_events().iter().any(|e| matches!(
            e,
            SupervisorEvent::StepSkipped {
                step: Step::ModemReset,
                ..
            }
        )));
    }

    #[test]
    fn without_reset_or_usb_path_the_first_bound_is_the_last() {
        let mut s = Supervisor::new(plan(false, false), 0);
        assert_eq!(s.after_failed_try(9_999, true), Action::TryAgain);
        assert_eq!(s.after_failed_try(10_000, true), Action::GiveUp);
    }

    #[test]
    fn a_reset_that_cannot_be_carried_out_moves_on_at_once() {
        let mut s = Supervisor::new(plan(true, true), 0);
        assert_eq!(s.after_failed_try(10_000, true), Action::ResetModem);
        assert_eq!(s.action_failed(10_001), Action::ResetUsb);
        assert_eq!(s.action_failed(10_002), Action::GiveUp);
    }

    #[test]
    fn recovery_names_the_step_that_brought_the_modem_back() {
        let mut s = Supervisor::new(plan(true, true), 0);
        s.after_failed_try(10_000, false);
        s.recovered(12_500);
        assert_eq!(
            s.take_events().last(),
            Some(&SupervisorEvent::Recovered {
                step: Step::UsbReset,
                after_ms: 12_500
            })
        );
    }
}
