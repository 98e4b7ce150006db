//! `GET /status` and `GET /calls` on a running bot: who holds the port, the modem, the
//! signal, the call in progress, and the call log newest first.

use crate::support::api::*;

use std::time::{Duration, Instant};

use hil_tests::{Rig, SimConfig};
use serde_json::Value;

const CALLER: &str = "+491761234567";
const WITHIN: Duration = Duration::from_secs(15);

/// Polls `path` until `done` holds for its JSON body (bounded); returns the body.
fn poll(bot: &Bot, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = bot.http("GET", path, None);
        assert_eq!(status, 200, "{body}");
        if done(&body) {
            return body;
        }
        assert!(
            started.elapsed() < WITHIN,
            "{what} not seen within {WITHIN:?}: {body}\nlog:\n{}",
            bot.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(
    status_shows_the_port_holder_the_modem_and_the_call_and_calls_lists_them_newest_first,
);

fn status_shows_the_port_holder_the_modem_and_the_call_and_calls_lists_them_newest_first() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let config = bot_config(&mut rig, "");
    let bot = Bot::start(&config, free_addr(), &rig.dir().join("bot.log"));

    let (_, status) = bot.http("GET", "/status", None);
    assert_eq!(status["modem"]["model"], "SIMCOM_SIM7600G-H", "{status}");
    assert!(status["signal"]["rssi"].is_u64(), "{status}");
    assert_eq!(status["current_call"], Value::Null);
    assert_eq!(status["bot"]["pid"], bot.pid());
    let holders = status["system"]["facts"]["holders"].as_array().unwrap();
    assert!(
        holders.iter().any(|h| h["pid"] == bot.pid()),
        "the bot holds the port: {status}"
    );
    assert_eq!(status["system"]["facts"]["smstools_active"], false);
    assert_eq!(status["sms_queue"]["queued"], 0);

    // A caller with caller ID; the modem answers on the third ring (voice_config.json).
    assert!(
        !rig.modem()
            .call(CALLER, false, Some(Duration::from_millis(100)))
            .unwrap()
            .is_skipped()
    );
    let status = poll(&bot, "/status", "the answered call", |s| {
        s["current_call"]["state"] == "active"
    });
    assert_eq!(status["current_call"]["caller"], CALLER, "{status}");
    assert_eq!(status["current_call"]["rings"], 3, "{status}");
    assert!(!rig.modem().hangup().unwrap().is_skipped());
    poll(&bot, "/calls", "the first call in the log", |c| {
        c["calls"].as_array().is_some_and(|a| a.len() == 1)
    });

    // A second caller gives up after one ring: missed.
    assert!(!rig.modem().missed("+4930123456").unwrap().is_skipped());
    let calls = poll(&bot, "/calls", "the missed call in the log", |c| {
        c["calls"].as_array().is_some_and(|a| a.len() == 2)
    });
    let calls = calls["calls"].as_array().unwrap();
    assert_eq!(calls[0]["caller"], "+4930123456", "newest first: {calls:?}");
    assert_eq!(calls[0]["answered"], false);
    assert_eq!(calls[1]["caller"], CALLER);
    assert_eq!(calls[1]["answered"], true);
    assert_eq!(calls[1]["rings"], 3);

    let (_, newest) = bot.http("GET", "/calls?limit=1", None);
    assert_eq!(newest["calls"].as_array().unwrap().len(), 1);
    assert_eq!(newest["calls"][0]["caller"], "+4930123456");
    let (_, status) = bot.http("GET", "/status", None);
    assert_eq!(status["current_call"], Value::Null, "{status}");
    assert!(bot.terminate().success());
}
