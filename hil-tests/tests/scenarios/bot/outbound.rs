//! Calls the bot places (`POST /calls`) and USSD (`POST /ussd`) against the simulator's far
//! end: the dial reaches the modem as `ATD<number>;`, its progress comes out as events
//! (`dialing`, `ringing`, `answered`, `busy`, `no_answer`, `failed`, `ended`) and in the
//! call log; one call at a time; the network's USSD answer comes back as text.

use crate::support::api::*;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hil_tests::Rig;
use hil_tests::http::Request;
use modem_sim::ControlCommand;
use serde_json::Value;

const TO: &str = "+491761234567";
const WITHIN: Duration = Duration::from_secs(15);

/// The events of `GET /events`, one JSON value each, read on a thread.
fn subscribe(addr: SocketAddr) -> mpsc::Receiver<Value> {
    let stream = Request::new("GET", addr, "/events")
        .header("Accept", "text/event-stream")
        .read_timeout(None)
        .open()
        .unwrap();
    assert_eq!(stream.status, 200, "{stream:?}");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            if let Some(json) = line.strip_prefix("data: ") {
                if let Ok(v) = serde_json::from_str::<Value>(json) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// Events until one of type `last` (bounded); their types in order, and the last one.
fn events_until(rx: &mpsc::Receiver<Value>, last: &str) -> (Vec<String>, Value) {
    let started = Instant::now();
    let mut types = Vec::new();
    loop {
        let left = WITHIN.saturating_sub(started.elapsed());
        let event = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no {last:?} event within {WITHIN:?}; saw {types:?}"));
        let t = event["type"].as_str().unwrap_or_default().to_owned();
        types.push(t.clone());
        if t == last {
            return (types, event);
        }
    }
}

fn poll(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < WITHIN,
            "{what} not seen within {WITHIN:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start(rig: &mut Rig) -> Bot {
    let config = bot_config(rig, "");
    Bot::start(&config, free_addr(), &rig.dir().join("bot.log"))
}

fn commands(rig: &Rig) -> Vec<String> {
    rig.modem().state().unwrap().modem.commands
}

fn dial(bot: &Bot, body: &str) -> Value {
    let (status, answer) = bot.http("POST", "/calls", Some(body));
    assert_eq!(status, 201, "{answer}\n{}", bot.log_text());
    answer
}

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(
    a_dialled_call_rings_is_answered_refuses_a_second_dial_and_is_hung_up,
    busy_no_answer_reject_and_the_timeout_end_with_their_event_and_log_entry,
    ussd_answers_with_the_networks_text_and_refuses_clearly_during_a_call,
);

fn a_dialled_call_rings_is_answered_refuses_a_second_dial_and_is_hung_up() {
    let mut rig = Rig::simulated(hil_tests::SimConfig::default()).unwrap();
    let bot = start(&mut rig);
    let events = subscribe(bot.addr);
    let answer = dial(&bot, &format!(r#"{{"to": "{TO}"}}"#));
    assert_eq!(answer["status"], "dialing");
    assert_eq!(answer["to"], TO);
    let call_id = answer["call_id"].as_str().unwrap().to_owned();
    poll("ATD at the modem", || {
        commands(&rig).contains(&format!("ATD{TO};"))
    });
    let (types, ringing) = events_until(&events, "ringing");
    assert_eq!(types, ["dialing", "ringing"]);
    assert_eq!(ringing["to"], TO);
    assert_eq!(ringing["call_id"], call_id.as_str());
    poll("alerting in /status", || {
        bot.http("GET", "/status", None).1["current_call"]["state"] == "alerting"
    });

    rig.sim().unwrap().command(ControlCommand::Answer).unwrap();
    let (types, answered) = events_until(&events, "answered");
    assert_eq!(types, ["answered"]);
    assert_eq!(answered["to"], TO);
    let (status, refused) = bot.http("POST", "/calls", Some(r#"{"to": "+4930123456"}"#));
    assert_eq!(status, 409, "one call at a time: {refused}");
    // A caller meanwhile: the simulated network refuses it (no call waiting).
    assert!(rig.sim().unwrap().call("+4930999", false, None).is_err());

    let (status, _) = bot.http("POST", "/calls/current/hangup", None);
    assert_eq!(status, 202);
    let (_, ended) = events_until(&events, "ended");
    assert_eq!(ended["to"], TO);
    assert_eq!(ended["reason"], "we_hung_up");
    assert!(commands(&rig).iter().any(|c| c == "AT+CHUP"));
    let (_, calls) = bot.http("GET", "/calls", None);
    let last = &calls["calls"][0];
    assert_eq!(last["to"], TO, "{calls}");
    assert_eq!(last["answered"], true);
    assert_eq!(last["end"], "we_hung_up");
}

fn busy_no_answer_reject_and_the_timeout_end_with_their_event_and_log_entry() {
    let mut rig = Rig::simulated(hil_tests::SimConfig::default()).unwrap();
    let bot = start(&mut rig);
    let events = subscribe(bot.addr);
    for (far_end, event, end) in [
        (Some(ControlCommand::Busy), "busy", "busy"),
        (Some(ControlCommand::NoAnswer), "no_answer", "no_answer"),
        (Some(ControlCommand::Reject), "failed", "failed"),
        (None, "no_answer", "no_answer"),
    ] {
        dial(&bot, &format!(r#"{{"to": "{TO}", "timeout_s": 1}}"#));
        events_until(&events, "ringing");
        let started = Instant::now();
        let timeout_case = far_end.is_none();
        if let Some(cmd) = far_end {
            rig.sim().unwrap().command(cmd).unwrap();
        }
        let (_, last) = events_until(&events, event);
        assert_eq!(last["to"], TO, "{last}");
        if event == "failed" {
            assert_eq!(last["reason"], "failed");
        }
        if timeout_case {
            assert!(
                started.elapsed() < Duration::from_secs(4),
                "the 1 s timeout hangs up: {:?}",
                started.elapsed()
            );
        }
        poll("the call log entry", || {
            bot.http("GET", "/calls", None).1["calls"][0]["end"] == end
        });
        poll("the modem free again", || {
            rig.modem().state().unwrap().modem.calls.is_empty()
        });
    }
    // The timeout hung up with AT+CHUP.
    assert!(commands(&rig).iter().any(|c| c == "AT+CHUP"));
}

#[test]
fn a_bad_dial_is_refused_naming_the_field() {
    let mut rig = Rig::simulated(hil_tests::SimConfig::default()).unwrap();
    let bot = start(&mut rig);
    for (body, field) in [
        (r#"{"to": "12ab"}"#, "to"),
        (r#"{}"#, "to"),
        (r#"{"to": "123", "timeout_s": 0}"#, "timeout_s"),
        (r#"{"to": "123", "ring": 1}"#, "ring"),
    ] {
        let (status, answer) = bot.http("POST", "/calls", Some(body));
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{body}: {answer}");
    }
    assert!(!commands(&rig).iter().any(|c| c.starts_with("ATD")));
}

fn ussd_answers_with_the_networks_text_and_refuses_clearly_during_a_call() {
    let mut rig = Rig::simulated(hil_tests::SimConfig::default()).unwrap();
    let bot = start(&mut rig);
    rig.sim()
        .unwrap()
        .command(ControlCommand::Ussd {
            code: "*100#".into(),
            text: "Your balance is 5,00 EUR".into(),
        })
        .unwrap();
    let (status, answer) = bot.http("POST", "/ussd", Some(r#"{"code": "*100#"}"#));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["text"], "Your balance is 5,00 EUR");
    assert!(commands(&rig).contains(&"AT+CUSD=1,\"*100#\",15".to_owned()));

    let (status, answer) = bot.http("POST", "/ussd", Some(r#"{"code": "*999#"}"#));
    assert_eq!(status, 502, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("*999#"),
        "{answer}"
    );

    let (status, answer) = bot.http("POST", "/ussd", Some(r#"{"code": "*100#; ATD1"}"#));
    assert_eq!((status, &answer["field"]), (400, &Value::from("code")));

    dial(&bot, &format!(r#"{{"to": "{TO}"}}"#));
    let (status, answer) = bot.http("POST", "/ussd", Some(r#"{"code": "*100#"}"#));
    assert_eq!(status, 409, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.contains("refused") && error.contains("a call holds the line"),
        "{error}"
    );
}
