//! The bot on a real mosquitto (Debian's), with a user and a password, the real smsd on
//! the simulator: Home Assistant discovery retained and complete, an SMS sent through
//! `sms/send` reaching the modem, a call and an SMS as events in order, Home Assistant's
//! `online` answered with discovery again, `kill -9` turning the bot `offline` through
//! its last will, and a restarted bot `online` again with its state.

use crate::support::bot;
use crate::support::mqtt;

use std::time::Duration;

use crate::support::bot::{Bot, BotSetup, rig, smsd_backend, write_config};
use crate::support::mqtt::{Broker, Seen, Watcher};
use serde_json::Value;

const IMEI: &str = "351602000330570";
const BASE: &str = "sim7600/351602000330570";
const WITHIN: Duration = Duration::from_secs(20);
const NOTIFY_TO: &str = "+491761234567";

fn json(s: &Seen) -> Value {
    serde_json::from_str(&s.payload).unwrap_or_else(|e| panic!("{e}: {s:?}"))
}

/// The reply to the command `request_id` on `<BASE>/<command>/reply` refuses it with an
/// error that says `why`.
fn assert_refused(ha: &Watcher, command: &str, request_id: &str, why: &str) {
    let topic = format!("{BASE}/{command}/reply");
    let refused = ha.wait(&format!("the refusal of {request_id}"), WITHIN, |seen| {
        seen.iter()
            .filter(|s| s.topic == topic)
            .map(json)
            .find(|v| v["request_id"] == request_id)
    });
    assert_eq!(refused["ok"], false, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains(why),
        "{refused}"
    );
}

/// The fields HA's MQTT discovery documents as required, per component.
fn required(component: &str) -> &'static [&'static str] {
    match component {
        "sensor" => &["state_topic"],
        "event" => &["state_topic", "event_types"],
        "button" | "notify" => &["command_topic"],
        other => panic!("unexpected component {other}"),
    }
}

fn discovery(seen: &[Seen]) -> Vec<Seen> {
    seen.iter()
        .filter(|s| s.topic.starts_with("homeassistant/") && s.topic.ends_with("/config"))
        .cloned()
        .collect()
}

/// The `event_type`s on `events/call` and `events/sms`, in the order they came.
fn event_types(seen: &[Seen]) -> Vec<String> {
    seen.iter()
        .filter(|s| {
            s.topic == format!("{BASE}/events/call") || s.topic == format!("{BASE}/events/sms")
        })
        .map(|s| json(s)["event_type"].as_str().unwrap().to_owned())
        .collect()
}

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(
    a_bot_on_mosquitto_is_a_home_assistant_device_that_sends_sms_and_reports_calls,
    a_broker_that_is_not_there_holds_up_nothing,
);

fn a_bot_on_mosquitto_is_a_home_assistant_device_that_sends_sms_and_reports_calls() {
    let mut rig = rig();
    let broker = Broker::start(rig.dir());
    let handoff = smsd_backend(rig.start_smsd().unwrap());
    let files = write_config(
        &rig,
        &BotSetup {
            answer_after_rings: 2,
            bot: String::new(),
            handoff,
        },
    );
    let mut text = std::fs::read_to_string(&files.config).unwrap();
    text.push_str(&format!(
        "\n[mqtt]\nurl = \"{}\"\nnotify_to = \"{NOTIFY_TO}\"\nkeep_alive_s = 5\n",
        broker.url()
    ));
    std::fs::write(&files.config, text).unwrap();
    let early = Watcher::connect(&broker, "early", &[&format!("{BASE}/#")]);
    let bot = Bot::start(&files);
    early.wait("availability online", WITHIN, |seen| {
        seen.iter()
            .any(|s| s.topic == format!("{BASE}/availability") && s.payload == "online")
            .then_some(())
    });

    // A client that comes later gets everything retained: availability, state, discovery.
    let ha = Watcher::connect(
        &broker,
        "home-assistant",
        &[&format!("{BASE}/#"), "homeassistant/#"],
    );
    let configs = ha.wait("12 discovery messages", WITHIN, |seen| {
        let d = discovery(seen);
        (d.len() >= 12).then_some(d)
    });
    assert_eq!(configs.len(), 12, "{configs:#?}");
    for c in &configs {
        assert!(c.retain, "{} not retained", c.topic);
        let component = c.topic.split('/').nth(1).unwrap();
        let v = json(c);
        for field in required(component) {
            assert!(v.get(*field).is_some(), "{}: no {field}: {v}", c.topic);
        }
        assert_eq!(v["device"]["identifiers"][0], IMEI, "{}", c.topic);
        assert_eq!(v["availability_topic"], format!("{BASE}/availability"));
        assert!(v["unique_id"].as_str().is_some_and(|u| u.contains(IMEI)));
    }
    for component in ["sensor", "event", "button", "notify"] {
        assert!(
            configs
                .iter()
                .any(|c| c.topic.starts_with(&format!("homeassistant/{component}/"))),
            "no {component}"
        );
    }
    let availability = ha.last(&format!("{BASE}/availability")).unwrap();
    assert!(availability.retain && availability.payload == "online");
    let state = ha.wait("the retained state", WITHIN, |seen| {
        seen.iter()
            .find(|s| s.topic == format!("{BASE}/state"))
            .cloned()
    });
    assert!(state.retain);
    let state = json(&state);
    assert_eq!(state["imei"], IMEI);
    assert_eq!(state["phase"], "running");
    assert_eq!(state["network"], "home", "{state}");

    // An SMS through sms/send: answered on the reply topic, sent by the modem.
    ha.publish(
        &format!("{BASE}/sms/send"),
        false,
        r#"{"to": "+491721234567", "text": "Hello over MQTT", "request_id": "r1"}"#,
    );
    let reply = ha.wait("the sms/send reply", WITHIN, |seen| {
        seen.iter()
            .find(|s| s.topic == format!("{BASE}/sms/send/reply"))
            .map(json)
    });
    assert_eq!(reply["request_id"], "r1", "{reply}");
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["state"], "queued");
    hil_tests::wait::wait_for("the SMS at the modem", WITHIN, || {
        let state = rig.modem().state().unwrap();
        state
            .modem
            .sent
            .iter()
            .any(|s| s.number == "+491721234567" && s.text == "Hello over MQTT")
            .then_some(())
    })
    .unwrap();
    // A bad request is refused on the reply topic, naming the field.
    ha.publish(
        &format!("{BASE}/sms/send"),
        false,
        r#"{"to": "+49", "request_id": "r2"}"#,
    );
    assert_refused(&ha, "sms/send", "r2", "\"text\" is missing");

    // A call answered on ring 2 and hung up by the caller, then an SMS: events in order.
    rig.sim().unwrap().call("+4930123456", false, None).unwrap();
    ha.wait("answered", WITHIN, |seen| {
        event_types(seen)
            .iter()
            .any(|t| t == "answered")
            .then_some(())
    });
    rig.sim().unwrap().hangup().unwrap();
    ha.wait("ended", WITHIN, |seen| {
        event_types(seen).iter().any(|t| t == "ended").then_some(())
    });
    rig.sim().unwrap().sms("+31641600986", "Ping").unwrap();
    let types = ha.wait("sms_received", WITHIN, |seen| {
        let t = event_types(seen);
        t.iter().any(|t| t == "sms_received").then_some(t)
    });
    let pos = |name: &str| {
        types
            .iter()
            .position(|t| t == name)
            .unwrap_or_else(|| panic!("{name} in {types:?}"))
    };
    assert!(pos("sms_sent") < pos("ringing"), "{types:?}");
    assert!(pos("ringing") < pos("answered"), "{types:?}");
    assert!(pos("answered") < pos("ended"), "{types:?}");
    assert!(pos("ended") < pos("sms_received"), "{types:?}");
    let received = ha
        .seen()
        .into_iter()
        .filter(|s| s.topic == format!("{BASE}/events/sms"))
        .map(|s| json(&s))
        .find(|v| v["event_type"] == "sms_received")
        .unwrap();
    assert_eq!(received["from"], "+31641600986");
    assert_eq!(received["text"], "Ping");
    ha.wait("the last caller in the state", WITHIN, |seen| {
        seen.iter()
            .rev()
            .find(|s| s.topic == format!("{BASE}/state"))
            .map(json)
            .filter(|v| v["last_caller"] == "+4930123456" && v["sms_received"] == 1)
    });

    // A dial through call/dial: the reply names the call, the modem dials, and the far
    // end being busy arrives as the call's last event.
    ha.publish(
        &format!("{BASE}/call/dial"),
        false,
        r#"{"to": "+4915112345678", "timeout_s": 30, "request_id": "d1"}"#,
    );
    let dialled = ha.wait("the call/dial reply", WITHIN, |seen| {
        seen.iter()
            .find(|s| s.topic == format!("{BASE}/call/dial/reply"))
            .map(json)
    });
    assert_eq!(dialled["request_id"], "d1", "{dialled}");
    assert_eq!(dialled["ok"], true, "{dialled}");
    assert!(dialled["call_id"].is_string(), "{dialled}");
    hil_tests::wait::wait_for("the dialled call at the modem", WITHIN, || {
        let state = rig.modem().state().unwrap();
        state
            .modem
            .calls
            .iter()
            .any(|c| c.direction == "outgoing" && c.number == "+4915112345678")
            .then_some(())
    })
    .unwrap();
    rig.sim()
        .unwrap()
        .command(modem_sim::ControlCommand::Busy)
        .unwrap();
    ha.wait("busy", WITHIN, |seen| {
        event_types(seen).iter().any(|t| t == "busy").then_some(())
    });
    ha.publish(
        &format!("{BASE}/call/dial"),
        false,
        r#"{"request_id": "d2"}"#,
    );
    assert_refused(&ha, "call/dial", "d2", "\"to\" is missing");

    // Home Assistant restarts: it says `online`, the bot publishes discovery again.
    let before = discovery(&ha.seen()).len();
    ha.publish("homeassistant/status", false, "online");
    ha.wait("discovery again", WITHIN, |seen| {
        (discovery(seen).len() >= before + 12).then_some(())
    });

    // kill -9: the broker publishes the last will.
    let seen_before = ha.seen().len();
    drop(bot); // SIGKILL (bot_support's Drop)
    ha.wait("offline through the will", WITHIN, |seen| {
        seen[seen_before..]
            .iter()
            .any(|s| s.topic == format!("{BASE}/availability") && s.payload == "offline")
            .then_some(())
    });

    // A restarted bot is online again and republishes its state.
    let seen_before = ha.seen().len();
    let bot = Bot::start(&files);
    ha.wait("online again with a state", WITHIN, |seen| {
        let new = &seen[seen_before..];
        let online = new
            .iter()
            .any(|s| s.topic == format!("{BASE}/availability") && s.payload == "online");
        let state = new.iter().any(|s| s.topic == format!("{BASE}/state"));
        (online && state).then_some(())
    });
    // A clean stop says `offline` itself.
    let seen_before = ha.seen().len();
    assert_eq!(
        bot.stop_with(nix::sys::signal::Signal::SIGTERM, WITHIN)
            .code(),
        Some(0)
    );
    ha.wait("offline at a clean stop", WITHIN, |seen| {
        seen[seen_before..]
            .iter()
            .any(|s| s.topic == format!("{BASE}/availability") && s.payload == "offline")
            .then_some(())
    });
}

/// `mqtts://` with the broker's CA in `ca_file`: the bot comes online over TLS, with its
/// user and password; with another CA it refuses the broker's certificate and says so.
#[test]
fn a_bot_reaches_the_broker_over_tls_and_refuses_a_certificate_it_cannot_trust() {
    let rig = rig();
    let (broker, tls_port, ca) = Broker::start_tls(rig.dir());
    let other_ca = mqtt::make_ca(rig.dir(), "other-ca");
    let watcher = Watcher::connect(&broker, "tls-watcher", &[&format!("{BASE}/availability")]);
    let run = |ca: &std::path::Path| {
        let files = write_config(
            &rig,
            &BotSetup {
                answer_after_rings: 2,
                bot: String::new(),
                handoff: bot::flag_backend(&rig),
            },
        );
        let mut text = std::fs::read_to_string(&files.config).unwrap();
        text.push_str(&format!(
            "\n[mqtt]\nurl = \"mqtts://{}:{}@127.0.0.1:{tls_port}\"\nca_file = {}\ndiscovery = false\n",
            mqtt::USER,
            mqtt::PASSWORD,
            bot::q(ca)
        ));
        std::fs::write(&files.config, text).unwrap();
        Bot::start(&files)
    };

    let bot = run(&other_ca);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !bot.log_text().contains("mqtt:")
        || !bot.log_text().to_lowercase().contains("certificate")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no certificate error logged:\n{}",
            bot.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        watcher.last(&format!("{BASE}/availability")).is_none(),
        "{:?}",
        watcher.seen()
    );
    assert_eq!(
        bot.stop_with(nix::sys::signal::Signal::SIGTERM, WITHIN)
            .code(),
        Some(0)
    );

    let bot = run(&ca);
    watcher.wait("online over TLS", WITHIN, |seen| {
        seen.iter()
            .any(|s| s.topic == format!("{BASE}/availability") && s.payload == "online")
            .then_some(())
    });
    assert_eq!(
        bot.stop_with(nix::sys::signal::Signal::SIGTERM, WITHIN)
            .code(),
        Some(0)
    );
}

/// No broker at the url: the bot runs and answers calls all the same, and says why MQTT
/// does not connect.
fn a_broker_that_is_not_there_holds_up_nothing() {
    let rig = rig();
    let files = write_config(
        &rig,
        &BotSetup {
            answer_after_rings: 2,
            bot: String::new(),
            handoff: bot::flag_backend(&rig),
        },
    );
    // A port nobody listens on.
    let port = bot::free_port();
    let mut text = std::fs::read_to_string(&files.config).unwrap();
    text.push_str(&format!("\n[mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\n"));
    std::fs::write(&files.config, text).unwrap();
    let mut bot = Bot::start(&files);
    rig.sim().unwrap().call("+4930123456", false, None).unwrap();
    bot.wait_status("an answered call", WITHIN, |s| {
        s["current_call"]["state"] == "active"
    });
    rig.sim().unwrap().hangup().unwrap();
    let calls = bot.wait_calls(1, WITHIN);
    assert_eq!(calls[0]["answered"], true);
    let log = bot.log_text();
    assert!(
        log.contains("mqtt:") && log.contains("trying again"),
        "{log}"
    );
    assert_eq!(
        bot.stop_with(nix::sys::signal::Signal::SIGTERM, WITHIN)
            .code(),
        Some(0)
    );
}
