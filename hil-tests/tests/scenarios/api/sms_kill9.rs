//! A message the API accepted survives `kill -9` of the bot and is sent afterwards exactly
//! once: the `202` is only given once the message is on disk, and the next bot's queue
//! recovery never sends a part twice.

use crate::support::api::*;

use std::time::Duration;

use hil_tests::{Rig, SimConfig};

const TO: &str = "+491721234567";
const SENT_WITHIN: Duration = Duration::from_secs(30);

fn post(bot: &Bot, text: &str) -> String {
    let body = format!(r#"{{"to": "{TO}", "text": "{text}"}}"#);
    let (status, answer) = bot.http("POST", "/sms", Some(&body));
    assert_eq!(status, 202, "{answer}");
    answer["id"].as_str().unwrap().to_owned()
}

fn times_sent(rig: &Rig, text: &str) -> usize {
    let sim = rig.modem().state().unwrap();
    sim.modem.sent.iter().filter(|s| s.text == text).count()
}

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(
    a_message_queued_while_the_modem_is_gone_survives_kill_9_and_is_sent_once_by_the_next_bot,
    kill_9_right_after_the_202_never_loses_the_message_and_never_sends_it_twice,
);

fn a_message_queued_while_the_modem_is_gone_survives_kill_9_and_is_sent_once_by_the_next_bot() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    start_smsd(&mut rig);
    let config = bot_config(&mut rig, "");
    let log = rig.dir().join("bot.log");
    let bot = Bot::start(&config, free_addr(), &log);
    assert!(!rig.smsd().unwrap().is_running(), "the bot stopped smsd");

    // The modem goes away: the bot cannot send, but the API still takes messages.
    assert!(!rig.modem().unplug().unwrap().is_skipped());
    let text = "alarm: back door opened";
    let id = post(&bot, text);
    let (_, record) = bot.http("GET", &format!("/sms/{id}"), None);
    assert_eq!(record["state"], "queued", "{record}");

    bot.kill9();
    // What systemd's ExecStopPost does after a SIGKILL: smsd comes back.
    let restore = sim7600(&config, &["restore"]);
    assert_eq!(restore.status.code(), Some(0));
    assert!(rig.smsd().unwrap().is_running());
    assert!(!rig.modem().plug().unwrap().is_skipped());
    assert_eq!(
        times_sent(&rig, text),
        0,
        "nothing went out while the modem was gone"
    );

    // The next bot takes the port from smsd and sends what the killed one accepted.
    let bot = Bot::start(&config, free_addr(), &log);
    let record = wait_finished(&bot, &id, SENT_WITHIN);
    assert_eq!(record["state"], "sent", "{record}");
    assert_eq!(record["message_references"].as_array().unwrap().len(), 1);
    assert_eq!(times_sent(&rig, text), 1);
    assert!(bot.terminate().success());
    assert!(
        rig.smsd().unwrap().is_running(),
        "smsd is back after SIGTERM"
    );
    // smsd was handed nothing: the message went out once, through the bot.
    assert_eq!(times_sent(&rig, text), 1);
}

fn kill_9_right_after_the_202_never_loses_the_message_and_never_sends_it_twice() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let config = bot_config(&mut rig, "");
    let log = rig.dir().join("bot.log");
    let bot = Bot::start(&config, free_addr(), &log);
    let text = "sent exactly once";
    let id = post(&bot, text);
    // The bot may be anywhere in sending it: not started, mid-part, or done.
    bot.kill9();
    let restore = sim7600(&config, &["restore"]);
    assert_eq!(restore.status.code(), Some(0));

    let bot = Bot::start(&config, free_addr(), &log);
    let record = wait_finished(&bot, &id, SENT_WITHIN);
    match record["state"].as_str() {
        Some("sent") => assert_eq!(times_sent(&rig, text), 1, "{record}"),
        // Killed while the part was with the modem: the one case the queue cannot know;
        // it is failed (and says why) rather than risk a second copy.
        Some("failed") => {
            assert!(
                record["error"]
                    .as_str()
                    .unwrap()
                    .contains("may have been sent"),
                "{record}"
            );
            assert!(times_sent(&rig, text) <= 1, "{record}");
        }
        other => panic!("unexpected state {other:?}: {record}"),
    }
    assert!(bot.terminate().success());
}
