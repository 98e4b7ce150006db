//! `GET /metrics` and `GET /healthz` on a running bot that took the port from the real
//! smsd: after one answered call and one SMS sent through the API, Prometheus' own
//! `promtool check metrics` accepts the text, and the counters show the call, the SMS (and
//! one each way through smstools' spool) and the handoff; `/healthz` says ok while the bot runs; both want the token.

use hil_tests::http::{HeaderMap, Request};

use crate::support::api::*;
use crate::support::http;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hil_tests::{Rig, SimConfig};
use serde_json::Value;

const TOKEN: &str = "scrape-token-of-the-voice-bot";
const CALLER: &str = "+491761234567";
const WITHIN: Duration = Duration::from_secs(20);

/// `GET path` with the token: the status, the head and the body text.
fn get(bot: &Bot, path: &str) -> (u16, HeaderMap, String) {
    let bearer = format!("Bearer {TOKEN}");
    let answer = Request::new("GET", bot.addr, path)
        .header("Authorization", &bearer)
        .send()
        .unwrap();
    (answer.status, answer.headers, answer.body)
}

/// The value of `series` (name and labels, exactly as exposed) in a scrape.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Scrapes until `done` holds (bounded); returns the text.
fn scrape_until(bot: &Bot, what: &str, done: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let (status, _, text) = get(bot, "/metrics");
        assert_eq!(status, 200, "{text}");
        if done(&text) {
            return text;
        }
        assert!(
            started.elapsed() < WITHIN,
            "{what} not seen within {WITHIN:?}:\n{text}\nlog:\n{}",
            bot.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `promtool check metrics` on `text`: its exit status and what it said.
fn promtool_check(text: &str) -> (Option<i32>, String) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("promtool is missing: install it with: apt-get install prometheus")
        }
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), said)
}

// Runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(metrics_pass_promtool_and_count_a_call_an_sms_and_the_handoff,);

fn metrics_pass_promtool_and_count_a_call_an_sms_and_the_handoff() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    start_smsd(&mut rig);
    let config = bot_config(&mut rig, &format!("[api]\ntoken = \"{TOKEN}\"\n"));
    // A health check every second: /healthz and the registration follow it.
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replacen("[bot]\n", "[bot]\nhealth_interval_s = 1\n", 1);
    std::fs::write(&config, text).unwrap();
    let bot = Bot::start_authorized(
        &config,
        free_addr(),
        &rig.dir().join("bot.log"),
        Some(format!("Bearer {TOKEN}")),
    );

    // Both follow the token rule.
    for path in ["/metrics", "/healthz"] {
        let (status, answer) = http::json(bot.addr, "GET", path, None, None).unwrap();
        assert_eq!(status, 401, "{path}: {answer}");
    }
    let (status, _, health) = get(&bot, "/healthz");
    assert_eq!(status, 200, "{health}");
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["phase"], "running");
    assert_eq!(health["health_interval_s"], 1.0);

    // One call: the modem answers on the third ring, then the caller hangs up.
    assert!(
        !rig.modem()
            .call(CALLER, false, Some(Duration::from_millis(100)))
            .unwrap()
            .is_skipped()
    );
    scrape_until(&bot, "the call in progress", |t| {
        value(t, "sim7600_call_in_progress") == Some(1.0)
    });
    let answered = Instant::now();
    loop {
        let (_, status) = bot.http("GET", "/status", None);
        if status["current_call"]["state"] == "active" {
            break;
        }
        assert!(answered.elapsed() < WITHIN, "never answered: {status}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!rig.modem().hangup().unwrap().is_skipped());

    // One SMS through the API.
    let (status, answer) = bot.http(
        "POST",
        "/sms",
        Some(r#"{"to": "+491721234567", "text": "metrics"}"#),
    );
    assert_eq!(status, 202, "{answer}");
    let record = wait_finished(&bot, answer["id"].as_str().unwrap(), WITHIN);
    assert_eq!(record["state"], "sent", "{record}");
    // And one each way through smstools' spool: a file in outgoing/, an SMS received.
    let outgoing = rig.smsd().unwrap().outgoing();
    let tmp = outgoing.join(".alarm.tmp");
    std::fs::write(&tmp, "To: 491721234567\n\nAlarm: door open\n").unwrap();
    std::fs::rename(&tmp, outgoing.join("alarm")).unwrap();
    rig.sim().unwrap().sms(CALLER, "Through the spool").unwrap();

    let text = scrape_until(
        &bot,
        "the call's end, the spool's SMS, the registration",
        |t| {
            value(t, "sim7600_calls_total{outcome=\"answered\"}") == Some(1.0)
                && value(t, "sim7600_sms_total{result=\"sent\",path=\"spool\"}") == Some(1.0)
                && value(t, "sim7600_sms_total{result=\"received\",path=\"spool\"}") == Some(1.0)
                && value(t, "sim7600_network_registered").is_some()
        },
    );
    let (status, head, _) = get(&bot, "/metrics");
    assert_eq!(status, 200);
    let content_type = head.get("content-type").and_then(|v| v.to_str().ok());
    assert_eq!(
        content_type.map(str::to_ascii_lowercase).as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8"),
        "{head:?}"
    );
    let (code, said) = promtool_check(&text);
    assert_eq!(code, Some(0), "promtool check metrics: {said}\n{text}");

    let v = |series: &str| value(&text, series);
    assert_eq!(v("sim7600_up"), Some(1.0), "{text}");
    for (outcome, n) in [
        ("answered", 1.0),
        ("missed", 0.0),
        ("rejected", 0.0),
        ("lost", 0.0),
    ] {
        assert_eq!(
            v(&format!("sim7600_calls_total{{outcome=\"{outcome}\"}}")),
            Some(n),
            "{outcome}: {text}"
        );
    }
    assert_eq!(v("sim7600_call_in_progress"), Some(0.0));
    assert_eq!(
        v("sim7600_sms_total{result=\"sent\",path=\"api\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        v("sim7600_sms_total{result=\"failed\",path=\"api\"}"),
        Some(0.0)
    );
    assert_eq!(
        v("sim7600_sms_total{result=\"received\",path=\"api\"}"),
        Some(0.0)
    );
    assert_eq!(v("sim7600_sms_queue_depth"), Some(0.0));
    // The simulator registers on its home network (+CREG: 0,1).
    assert_eq!(v("sim7600_network_registered"), Some(1.0));
    assert!(v("sim7600_signal_dbm").is_some(), "{text}");
    // smsd was stopped once for the bot: one downtime, seconds at most.
    assert_eq!(
        v("sim7600_handoff_downtime_seconds_count"),
        Some(1.0),
        "{text}"
    );
    let down = v("sim7600_handoff_downtime_seconds_sum").unwrap();
    assert!(down > 0.0 && down < 30.0, "downtime {down} s");
    eprintln!("handoff: SMS down for {down} s");
    let (_, status) = bot.http("GET", "/status", None);
    assert_eq!(status["registration"], "home", "{status}");

    let (status, _, health) = get(&bot, "/healthz");
    assert_eq!(
        status, 200,
        "still healthy after the call and the SMS: {health}"
    );
    assert!(bot.terminate().success());
}
