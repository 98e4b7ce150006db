//! The voice bot stays up (issue 6, "Staying up"): the modem unplugged and plugged back,
//! a modem that restarts by itself (RDY), a modem that goes silent, and a modem that
//! never comes back (the bot exits non-zero and smstools gets the port back).

use std::time::Duration;

use crate::support::bot::{Bot, BotSetup, flag_backend, rig, smstools_flag, write_config};
use hil_tests::Rig;
use nix::sys::signal::Signal;

fn setup(rig: &Rig, bot: &str) -> BotSetup {
    BotSetup {
        answer_after_rings: 2,
        bot: bot.to_owned(),
        handoff: flag_backend(rig),
    }
}

/// A call rings, the modem answers on ring 2, the caller hangs up: logged as call `n`.
fn a_call_is_answered_and_logged(rig: &Rig, bot: &mut Bot, caller: &str, n: usize) {
    rig.sim().unwrap().call(caller, false, None).unwrap();
    let live = bot.wait_status("an answered call", Duration::from_secs(15), |s| {
        s["current_call"]["state"] == "active"
    });
    assert_eq!(live["current_call"]["caller"], caller);
    rig.sim().unwrap().hangup().unwrap();
    let calls = bot.wait_calls(n, Duration::from_secs(10));
    assert_eq!(calls[0]["caller"], caller, "{:?}", calls[0]);
    assert_eq!(calls[0]["rings"], 2);
    assert_eq!(calls[0]["answered"], true);
}

fn unplugged_and_plugged_back_the_modem_is_reopened_and_initialised_again() {
    let rig = rig();
    let files = write_config(&rig, &setup(&rig, "reopen_timeout_s = 30"));
    let mut bot = Bot::start(&files);
    rig.sim().unwrap().unplug().unwrap();
    bot.wait_status("the bot to notice", Duration::from_secs(10), |s| {
        s["phase"] == "reconnecting"
    });
    std::thread::sleep(Duration::from_millis(500));
    rig.sim().unwrap().plug().unwrap();
    bot.wait_status("the bot back on the port", Duration::from_secs(15), |s| {
        s["phase"] == "running" && s["reconnects"] == 1
    });
    assert_eq!(hil_tests::wait::holders_of(rig.port()), vec![bot.pid]);
    // A plug is a power cycle: the modem forgot ATS0 and caller ID, so a call answered on
    // ring 2 with its number proves the init ran again.
    let settings = rig.sim().unwrap().state().unwrap().modem.settings;
    assert_eq!(settings.auto_answer_rings, 2);
    assert!(settings.clip && !settings.echo, "{settings:?}");
    a_call_is_answered_and_logged(&rig, &mut bot, "+491761234567", 1);
    assert!(
        !smstools_flag(&rig).exists(),
        "smstools stays stopped meanwhile"
    );
    assert_eq!(
        bot.stop_with(Signal::SIGTERM, Duration::from_secs(15))
            .code(),
        Some(0)
    );
    assert!(smstools_flag(&rig).exists(), "smstools is back");
}

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(
    a_modem_reset_mid_run_is_initialised_again_and_a_call_in_progress_is_logged,
    unplugged_and_plugged_back_the_modem_is_reopened_and_initialised_again,
    a_modem_that_falls_silent_is_initialised_again_once_it_answers,
);

fn a_modem_reset_mid_run_is_initialised_again_and_a_call_in_progress_is_logged() {
    let rig = rig();
    let files = write_config(&rig, &setup(&rig, ""));
    let mut bot = Bot::start(&files);
    rig.sim().unwrap().call("+4930123456", false, None).unwrap();
    bot.wait_status("an answered call", Duration::from_secs(15), |s| {
        s["current_call"]["state"] == "active"
    });
    rig.sim().unwrap().reset().unwrap();
    bot.wait_status("the re-init after RDY", Duration::from_secs(15), |s| {
        s["modem_resets"] == 1 && s["phase"] == "running" && s["current_call"].is_null()
    });
    let lost = bot.wait_calls(1, Duration::from_secs(5));
    assert_eq!(lost[0]["end"], "modem_lost", "{:?}", lost[0]);
    assert_eq!(lost[0]["caller"], "+4930123456");
    let settings = rig.sim().unwrap().state().unwrap().modem.settings;
    assert_eq!(settings.auto_answer_rings, 2);
    assert!(
        settings.clip && !settings.echo && settings.clcc,
        "{settings:?}"
    );
    a_call_is_answered_and_logged(&rig, &mut bot, "+491761234567", 2);
    assert_eq!(
        bot.stop_with(Signal::SIGTERM, Duration::from_secs(15))
            .code(),
        Some(0)
    );
}

fn a_modem_that_falls_silent_is_initialised_again_once_it_answers() {
    let rig = rig();
    let files = write_config(
        &rig,
        &setup(
            &rig,
            "health_interval_s = 1\nhealth_failures = 1\nreopen_timeout_s = 30",
        ),
    );
    let mut bot = Bot::start(&files);
    rig.sim().unwrap().stall(Duration::from_secs(3)).unwrap();
    bot.wait_status(
        "the bot to notice the silence",
        Duration::from_secs(10),
        |s| s["phase"] == "reconnecting",
    );
    bot.wait_status("the bot back", Duration::from_secs(20), |s| {
        s["phase"] == "running" && s["reconnects"] == 1
    });
    a_call_is_answered_and_logged(&rig, &mut bot, "+491761234567", 1);
    assert_eq!(
        bot.stop_with(Signal::SIGTERM, Duration::from_secs(15))
            .code(),
        Some(0)
    );
}

#[test]
fn a_modem_gone_for_good_ends_the_bot_with_status_5_and_smstools_back() {
    let rig = rig();
    let files = write_config(&rig, &setup(&rig, "reopen_timeout_s = 2"));
    let bot = Bot::start(&files);
    assert!(!smstools_flag(&rig).exists());
    rig.sim().unwrap().unplug().unwrap();
    let status = bot.wait_exit(Duration::from_secs(15));
    assert_eq!(status.code(), Some(5));
    assert!(smstools_flag(&rig).exists(), "smstools is back");
    assert_eq!(
        std::fs::read_dir(rig.dir().join("run-sim7600"))
            .map(|d| d.count())
            .unwrap_or(0),
        0,
        "no restore marker left"
    );
}
