//! A queued SMS survives `kill -9` of the bot and is sent after the next start, exactly
//! once (issue 6). Messages still queued when the bot stops are kept in the queue folder
//! for its next start (docs/operations.md says why), so this is the path every queued
//! message takes across a crash, a restart or an orderly stop.

use crate::support::bot;

use std::time::Duration;

use crate::support::bot::{Bot, BotSetup, flag_backend, rig, smstools_flag, write_config};
use nix::sys::signal::Signal;

const RECIPIENT: &str = "+491721234567";

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(
    an_sms_queued_when_the_bot_is_killed_is_sent_once_after_the_next_start,
);

fn an_sms_queued_when_the_bot_is_killed_is_sent_once_after_the_next_start() {
    let rig = rig();
    // answer_after_rings 0: the modem never answers, so the call keeps ringing, and the bot
    // holds SMS back while a call rings: the message is certainly still queued at the kill.
    let setup = BotSetup {
        answer_after_rings: 0,
        bot: String::new(),
        handoff: flag_backend(&rig),
    };
    let files = write_config(&rig, &setup);
    let mut bot = Bot::start(&files);
    rig.sim().unwrap().call("+4930123456", false, None).unwrap();
    bot.wait_status("a ringing call", Duration::from_secs(10), |s| {
        s["current_call"]["state"] == "ringing"
    });
    let text = "Survives kill -9: Grüße 🎉";
    let (code, body) = bot.post_sms(RECIPIENT, text);
    assert_eq!(code, 202, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        bot.wait_sms(&id, "queued", Duration::from_secs(1))["state"],
        "queued"
    );
    bot.stop_with(Signal::SIGKILL, Duration::from_secs(5));
    rig.sim().unwrap().hangup().unwrap();
    assert!(rig.sim().unwrap().state().unwrap().modem.sent.is_empty());

    // What systemd's ExecStopPost does: smstools back from the marker.
    assert!(!smstools_flag(&rig).exists());
    bot::restore(&files);
    assert!(smstools_flag(&rig).exists(), "smstools back after the kill");
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(files.queue.join(format!("active/{id}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(record["state"], "queued", "{record}");

    // The next start sends it, once.
    let mut bot = Bot::start(&files);
    let sent = bot.wait_sms(&id, "sent", Duration::from_secs(15));
    assert_eq!(sent["message_references"].as_array().unwrap().len(), 1);
    // Another queue scan and health check pass: nothing is sent again.
    std::thread::sleep(Duration::from_millis(1500));
    let on_air = rig.sim().unwrap().state().unwrap().modem.sent;
    assert_eq!(on_air.len(), 1, "{on_air:?}");
    assert_eq!(
        (on_air[0].number.as_str(), on_air[0].text.as_str()),
        (RECIPIENT, text)
    );
    assert_eq!(
        bot.stop_with(Signal::SIGTERM, Duration::from_secs(15))
            .code(),
        Some(0)
    );
}
