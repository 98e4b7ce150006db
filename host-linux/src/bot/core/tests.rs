//! The bot's schedule on a made-up clock: no port, no sleep.

use super::*;
use modem_core::config::VoiceConfig;

const HEALTH: Duration = Duration::from_secs(30);
const SCAN: Duration = Duration::from_secs(10);
const FAILURES: u32 = 3;

fn schedule() -> Schedule {
    Schedule {
        health_interval: HEALTH,
        health_failures: FAILURES,
        queue_scan: SCAN,
    }
}

fn secs(t0: Instant, s: u64) -> Instant {
    t0 + Duration::from_secs(s)
}

fn ms(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

/// A core at the start of its run, its clock at `t0`.
fn fresh(t0: Instant) -> BotCore {
    BotCore::new(schedule(), CallMachine::new(&VoiceConfig::default()), t0)
}

/// Connects and initialises (the init at `now` succeeds) up to the session's first turn.
fn start_session(core: &mut BotCore, now: Instant) -> Initialised {
    assert!(matches!(
        core.poll_link(now),
        Some(LinkStep::Connect { .. })
    ));
    assert!(!core.wants_input(), "no input during the init");
    assert_eq!(core.poll_next(now), Some(Step::Init));
    assert_eq!(core.poll_next(now), None, "the init's result is awaited");
    let done = core.handle_init_ok();
    assert_eq!(core.poll_next(now), Some(Step::SpoolStart));
    assert_eq!(core.poll_next(now), Some(Step::Serve));
    done
}

/// A core whose session serves from `t0` on, its first look for SMS done and the next one
/// a day away.
fn serving(t0: Instant) -> BotCore {
    let mut core = fresh(t0);
    start_session(&mut core, t0);
    assert_eq!(core.poll_next(t0), Some(Step::SendSms));
    core.handle_sms_look(t0 + Duration::from_secs(86_400));
    core
}

/// A RING reaches the call machine at `now` (what the shell does with a `Step::Urc`).
fn ring(core: &mut BotCore, now: Instant) {
    let at = core.ms(now);
    core.call_mut().handle_urc(at, &Urc::Ring);
    while core.call_mut().poll_event().is_some() {}
    while core.call_mut().poll_action().is_some() {}
}

/// A health check at `now` with `result`, its work over at once.
fn check(core: &mut BotCore, now: Instant, result: Result<(), String>) -> Health {
    let health = core.handle_health(result);
    core.health_checked(now);
    health
}

/// A session whose port fails at `now`: left, lost, judged; the pause before the reopen
/// runs.
fn paused_after_a_lost_port(core: &mut BotCore, now: Instant) {
    core.handle_port_failed("EIO".into());
    leave_and_lose(core, now);
    assert!(matches!(core.poll_link(now), Some(LinkStep::Judge { .. })));
    assert!(core.handle_judged(now, false));
}

/// The loss of a session that ended for `why`.
fn lost(why: &str, fresh: bool) -> LinkStep {
    LinkStep::Lost {
        why: why.into(),
        fresh,
    }
}

/// A session ends (the step before must have ended it): leave, and take the loss.
fn leave_and_lose(core: &mut BotCore, now: Instant) -> LinkStep {
    assert_eq!(core.poll_next(now), Some(Step::Leave));
    core.poll_link(now).expect("a step after the session")
}

#[test]
fn a_session_initialises_the_modem_then_the_spool_then_serves_and_looks_for_sms_at_once() {
    let t0 = Instant::now();
    let mut core = fresh(t0);
    let first = start_session(&mut core, t0);
    assert_eq!(
        first,
        Initialised {
            first: true,
            reconnected: false
        }
    );
    assert!(
        core.wants_input(),
        "inputs are taken from the first turn on"
    );
    assert_eq!(core.poll_next(t0), Some(Step::SendSms));
    core.handle_sms_look(secs(t0, 10));
    assert_eq!(core.poll_next(t0), None);
    // Nothing polls faster than the link watch while idle.
    assert_eq!(core.poll_timeout(), Some(t0 + LINK_WATCH));
    assert_eq!(core.poll_next(secs(t0, 9)), None);
    assert_eq!(core.poll_timeout(), Some(secs(t0, 10)));
    assert_eq!(core.poll_next(secs(t0, 10)), Some(Step::SendSms));
}

#[test]
fn when_everything_is_due_at_once_each_turn_does_one_thing_in_order() {
    let t0 = Instant::now();
    let mut core = serving(t0);
    let t = secs(t0, 40);
    core.handle_sms_look(t);
    core.observe(Facts {
        audio_due: Some(t),
        slot_pending: true,
        parts_expiry: Some(t),
    });
    core.handle_input(t, Input::Request(BotRequest::HangUp));
    core.handle_input(t, Input::Request(BotRequest::Reload));
    assert!(!core.wants_input(), "one input at a time");
    assert_eq!(core.poll_next(t), Some(Step::ApplyReload));
    assert_eq!(core.poll_next(t), Some(Step::Request(BotRequest::HangUp)));
    assert_eq!(core.poll_next(t), Some(Step::Audio));
    core.observe(Facts {
        audio_due: None,
        slot_pending: true,
        parts_expiry: Some(t),
    });
    assert_eq!(core.poll_next(t), Some(Step::HealthCheck));
    assert_eq!(check(&mut core, t, Ok(())), Health::Alive { rescan: false });
    assert_eq!(core.poll_next(t), Some(Step::ReadSlot));
    core.observe(Facts {
        audio_due: None,
        slot_pending: false,
        parts_expiry: Some(t),
    });
    assert_eq!(core.poll_next(t), Some(Step::ExpireParts));
    core.observe(Facts::default());
    assert_eq!(core.poll_next(t), Some(Step::SendSms));
    core.handle_sms_look(t + SCAN);
    assert_eq!(core.poll_next(t), None);
}

#[test]
fn a_calls_work_comes_before_health_and_sms_and_a_ringing_call_holds_sms_back() {
    let t0 = Instant::now();
    let mut core = serving(t0);
    core.handle_input(t0, Input::Urc(Box::new(Urc::Ring)));
    assert_eq!(core.poll_next(t0), Some(Step::Urc(Box::new(Urc::Ring))));
    ring(&mut core, t0);
    let silence = u64::from(VoiceConfig::default().ring_silence_ms());
    let call_due = ms(t0, silence);
    // While it rings, SMS work waits, even when due; its deadline does not wake the loop.
    core.handle_sms_look(ms(t0, 100));
    core.observe(Facts {
        slot_pending: true,
        ..Facts::default()
    });
    assert_eq!(core.poll_next(ms(t0, 200)), None);
    assert_eq!(
        core.poll_timeout(),
        Some(call_due.min(ms(t0, 200) + LINK_WATCH))
    );
    // The ringing falls silent as the health check falls due: the call goes first.
    let t = call_due.max(secs(t0, 30));
    assert_eq!(core.poll_next(t), Some(Step::CallTimeout));
    assert_eq!(core.call().state(), CallState::Idle, "told the deadline");
    assert_eq!(core.poll_next(t), Some(Step::HealthCheck));
    check(&mut core, t, Ok(()));
    // The call is over: the SMS work goes on.
    assert_eq!(core.poll_next(t), Some(Step::ReadSlot));
}

#[test]
fn sms_work_waits_while_the_calls_audio_is_switched_on() {
    let t0 = Instant::now();
    let mut core = serving(t0);
    let audio = ms(t0, 500);
    core.handle_sms_look(t0);
    core.observe(Facts {
        audio_due: Some(audio),
        parts_expiry: Some(t0),
        slot_pending: false,
    });
    assert_eq!(core.poll_next(ms(t0, 100)), None);
    assert_eq!(core.poll_timeout(), Some(audio));
    assert_eq!(core.poll_next(audio), Some(Step::Audio));
    core.observe(Facts {
        parts_expiry: Some(t0),
        ..Facts::default()
    });
    assert_eq!(core.poll_next(audio), Some(Step::ExpireParts));
}

#[test]
fn a_reload_waits_for_the_call_to_end() {
    let t0 = Instant::now();
    let mut core = serving(t0);
    ring(&mut core, t0);
    core.handle_input(t0, Input::Request(BotRequest::Reload));
    assert_eq!(core.poll_next(ms(t0, 10)), None, "not during the call");
    let silence = u64::from(VoiceConfig::default().ring_silence_ms());
    let ended = ms(t0, silence);
    assert_eq!(core.poll_next(ended), Some(Step::CallTimeout));
    assert_eq!(core.poll_next(ended), Some(Step::ApplyReload));
    assert_eq!(core.poll_next(ended), None, "applied once");
}

#[test]
fn the_health_check_runs_one_period_after_the_last_and_failures_in_a_row_end_the_session() {
    let t0 = Instant::now();
    let mut core = serving(t0);
    assert_eq!(core.poll_next(secs(t0, 29)), None);
    assert_eq!(core.poll_timeout(), Some(secs(t0, 30)));
    assert_eq!(core.poll_next(secs(t0, 30)), Some(Step::HealthCheck));
    // The period counts from the check's end (it may have waited for the modem).
    check(&mut core, secs(t0, 32), Ok(()));
    assert_eq!(core.poll_next(secs(t0, 61)), None);
    assert_eq!(core.poll_next(secs(t0, 62)), Some(Step::HealthCheck));
    assert_eq!(
        check(&mut core, secs(t0, 62), Err("timeout".into())),
        Health::Failed {
            failures: 1,
            limit: FAILURES
        }
    );
    assert_eq!(core.poll_next(secs(t0, 92)), Some(Step::HealthCheck));
    check(&mut core, secs(t0, 92), Err("timeout".into()));
    // A check the modem answers clears the count.
    assert_eq!(core.poll_next(secs(t0, 122)), Some(Step::HealthCheck));
    check(&mut core, secs(t0, 122), Ok(()));
    let mut t = 122;
    for failures in 1..=FAILURES {
        t += 30;
        assert_eq!(core.poll_next(secs(t0, t)), Some(Step::HealthCheck));
        assert_eq!(
            check(&mut core, secs(t0, t), Err("timeout".into())),
            Health::Failed {
                failures,
                limit: FAILURES
            }
        );
    }
    assert_eq!(
        leave_and_lose(&mut core, secs(t0, t)),
        lost("3 health checks failed, the last: timeout", true)
    );
}

#[test]
fn a_queued_sms_brings_the_look_forward() {
    let t0 = Instant::now();
    let mut core = serving(t0);
    assert_eq!(core.poll_next(secs(t0, 5)), None);
    core.handle_input(secs(t0, 5), Input::Request(BotRequest::SmsQueued));
    assert!(core.wants_input(), "nothing waits to be handled");
    assert_eq!(core.poll_next(secs(t0, 5)), Some(Step::SendSms));
    // A part was sent: the next part is due at once.
    core.handle_sms_look(secs(t0, 5));
    assert_eq!(core.poll_next(secs(t0, 5)), Some(Step::SendSms));
}

#[test]
fn the_spool_and_the_queue_take_turns_starting_with_the_spool() {
    let t0 = Instant::now();
    let mut core = serving(t0);
    assert_eq!(core.sms_sources(), [Source::Spool, Source::Queue]);
    assert_eq!(core.sms_sources(), [Source::Queue, Source::Spool]);
    assert_eq!(core.sms_sources(), [Source::Spool, Source::Queue]);
}

#[test]
fn the_spool_rests_after_a_failure_and_its_folders_are_listed_once_per_scan() {
    let t0 = Instant::now();
    let mut core = serving(t0);
    assert_eq!(core.spool_gate(t0), SpoolGate::Open { rescan: true });
    assert_eq!(
        core.spool_gate(secs(t0, 1)),
        SpoolGate::Open { rescan: false }
    );
    core.rest_spool(secs(t0, 5));
    assert_eq!(
        core.spool_gate(secs(t0, 2)),
        SpoolGate::Resting(secs(t0, 5))
    );
    assert_eq!(
        core.spool_gate(secs(t0, 5)),
        SpoolGate::Open { rescan: false }
    );
    assert_eq!(
        core.spool_gate(secs(t0, 9)),
        SpoolGate::Open { rescan: false }
    );
    assert_eq!(
        core.spool_gate(secs(t0, 10)),
        SpoolGate::Open { rescan: true }
    );
    assert_eq!(
        core.spool_gate(secs(t0, 19)),
        SpoolGate::Open { rescan: false }
    );
}

#[test]
fn a_sim_scan_cut_short_is_owed_until_a_health_check_the_modem_answers() {
    let t0 = Instant::now();
    let mut core = serving(t0);
    core.owe_sim_rescan();
    assert_eq!(core.poll_next(secs(t0, 30)), Some(Step::HealthCheck));
    assert!(matches!(
        check(&mut core, secs(t0, 30), Err("timeout".into())),
        Health::Failed { .. }
    ));
    assert_eq!(core.poll_next(secs(t0, 60)), Some(Step::HealthCheck));
    assert_eq!(
        check(&mut core, secs(t0, 60), Ok(())),
        Health::Alive { rescan: true }
    );
    core.sim_scan_started();
    assert_eq!(core.poll_next(secs(t0, 90)), Some(Step::HealthCheck));
    assert_eq!(
        check(&mut core, secs(t0, 90), Ok(())),
        Health::Alive { rescan: false }
    );
}

#[test]
fn a_lost_port_is_judged_then_reopened_after_a_pause_until_it_opens_and_counts_as_a_reconnect() {
    let t0 = Instant::now();
    let mut core = serving(t0);
    let t = secs(t0, 5);
    core.handle_port_failed("EIO".into());
    assert_eq!(leave_and_lose(&mut core, t), lost("EIO", true));
    let judge = LinkStep::Judge {
        descriptor: false,
        why: "EIO".into(),
        since: t,
    };
    assert_eq!(core.poll_link(t), Some(judge.clone()));
    assert_eq!(core.poll_link(t), None, "the judgement is awaited");
    assert!(core.handle_judged(t, false), "a lost port is opened anew");
    assert_eq!(core.poll_link(t), None);
    assert_eq!(core.poll_timeout(), Some(t + REOPEN_RETRY));
    assert_eq!(core.poll_link(t + REOPEN_RETRY), Some(LinkStep::Reopen));
    core.handle_reopened(false);
    // Every failed try is judged again, then paused.
    let t2 = t + REOPEN_RETRY;
    assert_eq!(core.poll_link(t2), Some(judge));
    core.handle_judged(ms(t2, 5), false);
    assert_eq!(core.poll_link(ms(t2, 100)), None);
    assert_eq!(core.poll_timeout(), Some(ms(t2, 5) + REOPEN_RETRY));
    assert_eq!(
        core.poll_link(t2 + REOPEN_RETRY * 2),
        Some(LinkStep::Reopen)
    );
    core.handle_reopened(true);
    let t3 = t2 + REOPEN_RETRY * 2;
    assert_eq!(
        core.poll_link(t3),
        Some(LinkStep::Connect {
            again_after: Some("EIO".into())
        })
    );
    assert_eq!(core.poll_next(t3), Some(Step::Init));
    assert_eq!(
        core.handle_init_ok(),
        Initialised {
            first: false,
            reconnected: true
        }
    );
    assert_eq!(core.poll_next(t3), Some(Step::SpoolStart));
    assert_eq!(core.poll_next(t3), Some(Step::Serve));
    // The session's schedule starts over: SMS at once, health one period on.
    assert_eq!(core.poll_next(t3), Some(Step::SendSms));
    core.handle_sms_look(t3 + SCAN);
    assert_eq!(core.poll_next(t3 + HEALTH), Some(Step::HealthCheck));
}

#[test]
fn a_silent_modem_is_tried_again_on_its_descriptor_unless_its_usb_device_was_reset() {
    let t0 = Instant::now();
    let mut core = serving(t0);
    for s in 1..=u64::from(FAILURES) {
        core.poll_next(secs(t0, 30 * s));
        check(&mut core, secs(t0, 30 * s), Err("timeout".into()));
    }
    let t = secs(t0, 90);
    assert!(matches!(
        leave_and_lose(&mut core, t),
        LinkStep::Lost { fresh: true, .. }
    ));
    assert!(matches!(
        core.poll_link(t),
        Some(LinkStep::Judge {
            descriptor: true,
            ..
        })
    ));
    assert!(!core.handle_judged(t, false), "the descriptor stays");
    let again = t + REOPEN_RETRY;
    assert_eq!(
        core.poll_link(again),
        Some(LinkStep::Connect {
            again_after: Some("3 health checks failed, the last: timeout".into())
        })
    );
    // The init after a loss fails: the modem stays silent, the escalation goes on (the
    // same loss, judged with its first reason and time).
    assert_eq!(core.poll_next(again), Some(Step::Init));
    core.handle_init_failed("AT: timeout".into(), None);
    assert_eq!(leave_and_lose(&mut core, again), lost("AT: timeout", false));
    assert_eq!(
        core.poll_link(again),
        Some(LinkStep::Judge {
            descriptor: true,
            why: "3 health checks failed, the last: timeout".into(),
            since: t
        })
    );
    // The supervisor reset the USB device: the port is looked for anew.
    assert!(core.handle_judged(again, true));
    assert_eq!(core.poll_link(again + REOPEN_RETRY), Some(LinkStep::Reopen));
}

#[test]
fn a_new_escalation_starts_once_the_modem_served_again() {
    let t0 = Instant::now();
    let mut core = serving(t0);
    paused_after_a_lost_port(&mut core, t0);
    assert_eq!(core.poll_link(t0 + REOPEN_RETRY), Some(LinkStep::Reopen));
    core.handle_reopened(true);
    let t = secs(t0, 60);
    start_session(&mut core, t);
    core.handle_port_failed("EIO".into());
    assert_eq!(leave_and_lose(&mut core, t), lost("EIO", true));
    assert_eq!(
        core.poll_link(t),
        Some(LinkStep::Judge {
            descriptor: false,
            why: "EIO".into(),
            since: t
        })
    );
}

#[test]
fn the_first_init_failing_ends_the_run_and_a_port_failing_during_an_init_is_a_lost_port() {
    let t0 = Instant::now();
    let mut core = fresh(t0);
    core.poll_link(t0);
    assert_eq!(core.poll_next(t0), Some(Step::Init));
    core.handle_init_failed("ATE0: ERROR".into(), None);
    assert_eq!(
        leave_and_lose(&mut core, t0),
        LinkStep::InitFailed("ATE0: ERROR".into())
    );
    assert_eq!(core.poll_link(t0), Some(LinkStep::Stop));

    let mut core = fresh(t0);
    core.poll_link(t0);
    core.poll_next(t0);
    core.handle_init_failed("AT: timeout".into(), Some("EIO on the port".into()));
    assert_eq!(leave_and_lose(&mut core, t0), lost("EIO on the port", true));
}

#[test]
fn a_modem_that_restarts_is_initialised_again_within_the_session() {
    let t0 = Instant::now();
    let mut core = serving(t0);
    let t = secs(t0, 20);
    core.handle_input(t, Input::Urc(Box::new(Urc::Ready)));
    assert_eq!(core.poll_next(t), Some(Step::Restarted));
    assert!(!core.wants_input());
    assert_eq!(core.poll_next(t), Some(Step::Init));
    assert_eq!(
        core.handle_init_ok(),
        Initialised {
            first: false,
            reconnected: false
        }
    );
    assert_eq!(core.poll_next(t), Some(Step::SpoolStart));
    // The health checks count from the re-init, not from the session's start.
    assert_eq!(core.poll_next(ms(t, 500)), None);
    assert_eq!(core.poll_next(secs(t0, 30)), None);
    assert_eq!(core.poll_next(ms(t, 500) + HEALTH), Some(Step::HealthCheck));
    // A restart whose init fails: the modem counts as silent.
    check(&mut core, ms(t, 500) + HEALTH, Ok(()));
    core.handle_input(secs(t0, 60), Input::Urc(Box::new(Urc::Ready)));
    assert_eq!(core.poll_next(secs(t0, 60)), Some(Step::Restarted));
    assert_eq!(core.poll_next(secs(t0, 60)), Some(Step::Init));
    core.handle_init_failed("AT: timeout".into(), Some("EIO".into()));
    assert_eq!(
        leave_and_lose(&mut core, secs(t0, 60)),
        lost("re-init after a modem restart failed: AT: timeout", true)
    );
}

#[test]
fn a_stop_finishes_the_sms_work_after_the_input_in_hand_then_ends_the_run() {
    let t0 = Instant::now();
    let mut core = serving(t0);
    let t = secs(t0, 3);
    core.handle_input(t, Input::Urc(Box::new(Urc::Ring)));
    core.handle_input(t, Input::Stop);
    assert!(core.is_stopping());
    assert_eq!(core.poll_next(t), Some(Step::Urc(Box::new(Urc::Ring))));
    assert!(!core.wants_input(), "no new work once stopping");
    assert_eq!(core.poll_next(t), Some(Step::Finish));
    assert_eq!(core.poll_next(t), Some(Step::Leave));
    assert_eq!(core.poll_link(t), Some(LinkStep::Stop));
    assert_eq!(core.poll_link(t), Some(LinkStep::Stop));
}

#[test]
fn between_sessions_a_stop_ends_the_pause_and_other_requests_are_dropped() {
    let t0 = Instant::now();
    let mut core = serving(t0);
    paused_after_a_lost_port(&mut core, t0);
    core.handle_input(t0, Input::Request(BotRequest::HangUp));
    core.handle_input(t0, Input::Request(BotRequest::Reload));
    assert_eq!(core.poll_link(t0 + REOPEN_RETRY), Some(LinkStep::Reopen));
    core.handle_reopened(true);
    start_session(&mut core, t0 + REOPEN_RETRY);
    // The reload waited for the modem; the hang-up had nothing to act on.
    assert_eq!(core.poll_next(t0 + REOPEN_RETRY), Some(Step::ApplyReload));
    assert_eq!(core.poll_next(t0 + REOPEN_RETRY), Some(Step::SendSms));

    let mut core = serving(t0);
    paused_after_a_lost_port(&mut core, t0);
    assert_eq!(core.poll_link(ms(t0, 10)), None);
    core.handle_input(ms(t0, 10), Input::Stop);
    assert_eq!(core.poll_link(ms(t0, 10)), Some(LinkStep::Stop));
}
