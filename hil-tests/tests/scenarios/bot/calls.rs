//! Calls as the voice bot handles them (issue 6, "Calls"): answered by the host (`ATA`)
//! instead of the modem, a withheld caller who gives up (missed), and `max_call_seconds`
//! hanging up with `AT+CHUP`.

use std::time::Duration;

use crate::support::bot::{Bot, BotSetup, flag_backend, host_commands, rig, write_config};
use nix::sys::signal::Signal;

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(
    the_host_answers_with_ata_on_the_configured_ring,
    a_withheld_caller_who_gives_up_is_logged_as_missed,
    a_call_reaching_max_call_seconds_is_hung_up_by_the_bot,
);

fn the_host_answers_with_ata_on_the_configured_ring() {
    let rig = rig();
    let setup = BotSetup {
        answer_after_rings: 3,
        bot: "answer = \"host\"".into(),
        handoff: flag_backend(&rig),
    };
    let files = write_config(&rig, &setup);
    let mut bot = Bot::start(&files);
    // The modem is told not to answer by itself.
    assert_eq!(
        rig.sim()
            .unwrap()
            .state()
            .unwrap()
            .modem
            .settings
            .auto_answer_rings,
        0
    );
    rig.sim()
        .unwrap()
        .call("+491761234567", false, None)
        .unwrap();
    let live = bot.wait_status("the host's answer", Duration::from_secs(15), |s| {
        s["current_call"]["state"] == "active"
    });
    assert_eq!(live["current_call"]["rings"], 3);
    let commands = host_commands(&rig.transcript().unwrap());
    assert!(commands.iter().any(|c| c == r"ATA\r"), "{commands:?}");
    rig.sim().unwrap().hangup().unwrap();
    let calls = bot.wait_calls(1, Duration::from_secs(10));
    assert_eq!(calls[0]["rings"], 3);
    assert_eq!(calls[0]["answered"], true);
    assert_eq!(
        bot.stop_with(Signal::SIGTERM, Duration::from_secs(15))
            .code(),
        Some(0)
    );
}

fn a_withheld_caller_who_gives_up_is_logged_as_missed() {
    let rig = rig();
    let setup = BotSetup {
        answer_after_rings: 5,
        bot: String::new(),
        handoff: flag_backend(&rig),
    };
    let files = write_config(&rig, &setup);
    let mut bot = Bot::start(&files);
    rig.sim()
        .unwrap()
        .call("+491761234567", true, None)
        .unwrap();
    let ringing = bot.wait_status("ring 2", Duration::from_secs(10), |s| {
        s["current_call"]["rings"].as_u64() >= Some(2)
    });
    assert_eq!(ringing["current_call"]["caller_id"], "withheld");
    assert!(ringing["current_call"]["caller"].is_null());
    rig.sim().unwrap().hangup().unwrap();
    let calls = bot.wait_calls(1, Duration::from_secs(10));
    let call = &calls[0];
    assert_eq!(call["answered"], false, "{call}");
    assert_eq!(call["caller_id"], "withheld");
    assert!(call["caller"].is_null());
    assert_eq!(call["duration_s"], 0);
    assert!(
        call["end"].as_str().unwrap().starts_with("missed_"),
        "{call}"
    );
    assert_eq!(
        bot.stop_with(Signal::SIGTERM, Duration::from_secs(15))
            .code(),
        Some(0)
    );
}

fn a_call_reaching_max_call_seconds_is_hung_up_by_the_bot() {
    let rig = rig();
    let setup = BotSetup {
        answer_after_rings: 1,
        bot: "max_call_seconds = 2".into(),
        handoff: flag_backend(&rig),
    };
    let files = write_config(&rig, &setup);
    let mut bot = Bot::start(&files);
    rig.sim().unwrap().call("+4930123456", false, None).unwrap();
    bot.wait_status("the answer", Duration::from_secs(10), |s| {
        s["current_call"]["state"] == "active"
    });
    // Nobody hangs up: the bot does, after 2 s.
    let calls = bot.wait_calls(1, Duration::from_secs(10));
    assert_eq!(calls[0]["end"], "max_call_seconds", "{:?}", calls[0]);
    assert_eq!(calls[0]["answered"], true);
    let commands = host_commands(&rig.transcript().unwrap());
    assert!(commands.iter().any(|c| c == r"AT+CHUP\r"), "{commands:?}");
    assert!(rig.sim().unwrap().state().unwrap().modem.calls.is_empty());
    assert_eq!(
        bot.stop_with(Signal::SIGTERM, Duration::from_secs(15))
            .code(),
        Some(0)
    );
}
