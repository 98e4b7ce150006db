//! Events of a scripted call, end to end: the real `sim7600 voice-bot` on the simulator,
//! a webhook receiver (a small HTTP server on 127.0.0.1) and a `GET /events` client
//! watching. The caller rings, the modem answers, the caller presses a key and hangs up:
//! the receiver gets every event in order, the stream shows the same; a receiver that is
//! down does not delay the call; the `[dtmf]` menu's `#` hangs up.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hil_tests::Rig;
use hil_tests::http::Request;
use nix::sys::signal::Signal;
use serde_json::Value;

use crate::support::bot::{
    self, Bot, BotFiles, BotSetup, flag_backend, host_commands, rig, write_config,
};
use crate::support::web::{self, Received};

const CALLER: &str = "+491761234567";

/// A webhook receiver: every POST's JSON body, in the order received.
struct Receiver {
    url: String,
    requests: mpsc::Receiver<Received>,
    got: Mutex<Vec<Value>>,
}

impl Receiver {
    fn start() -> Receiver {
        let (url, requests) = web::receiver("/hook");
        Receiver {
            url,
            requests,
            got: Mutex::new(Vec::new()),
        }
    }

    /// Waits until an event of `kind` arrived; returns everything so far.
    fn wait_for(&self, kind: &str, within: Duration) -> Vec<Value> {
        let end = Instant::now() + within;
        loop {
            let mut got = self.got.lock().unwrap();
            for request in self.requests.try_iter() {
                got.push(serde_json::from_str(&request.body).unwrap());
            }
            if got.iter().any(|e| e["type"] == kind) {
                return got.clone();
            }
            assert!(
                Instant::now() < end,
                "no {kind} event within {within:?}: {got:?}"
            );
            drop(got);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A `GET /events` client reading on its own thread.
struct Stream {
    got: Arc<Mutex<Vec<Value>>>,
}

impl Stream {
    fn open(bot: &Bot) -> Stream {
        let stream = Request::new("GET", bot.addr(), "/events")
            .read_timeout(None)
            .open()
            .unwrap();
        assert_eq!(stream.status, 200, "{stream:?}");
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = Arc::clone(&got);
        let mut reader = BufReader::new(stream);
        std::thread::spawn(move || {
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                if let Some(json) = line.trim_end().strip_prefix("data: ") {
                    g.lock().unwrap().push(serde_json::from_str(json).unwrap());
                }
                line.clear();
            }
        });
        Stream { got }
    }

    fn events(&self) -> Vec<Value> {
        self.got.lock().unwrap().clone()
    }
}

/// The rig's config plus `extra` tables (appended: `[events]`, `[dtmf]`).
fn setup(rig: &Rig, extra: &str) -> BotFiles {
    let files = write_config(
        rig,
        &BotSetup {
            answer_after_rings: 2,
            bot: String::new(),
            handoff: flag_backend(rig),
        },
    );
    let mut config = std::fs::OpenOptions::new()
        .append(true)
        .open(&files.config)
        .unwrap();
    writeln!(config, "\n{extra}").unwrap();
    files
}

fn events_table(url: &str) -> String {
    format!(
        "[events]\nwebhooks = [{url:?}]\ntimeout_ms = 3000\nretries = 3\nretry_initial_ms = 500\n"
    )
}

/// The scripted call: ring, the modem answers on ring 2, key `key`, the caller hangs up
/// (unless the key ended the call). Returns how long it took from the first ring to the
/// call in the log.
fn scripted_call(rig: &Rig, bot: &mut Bot, key: &str, caller_hangs_up: bool) -> Duration {
    let sim = rig.sim().unwrap();
    let started = Instant::now();
    sim.call(CALLER, false, None).unwrap();
    bot.wait_status("the answer", Duration::from_secs(15), |s| {
        s["current_call"]["state"] == "active"
    });
    sim.dtmf(key).unwrap();
    if caller_hangs_up {
        // The key is seen before the caller goes.
        std::thread::sleep(Duration::from_millis(200));
        sim.hangup().unwrap();
    }
    bot.wait_calls(1, Duration::from_secs(15));
    started.elapsed()
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or("?").to_owned())
        .collect()
}

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(
    a_receiver_and_a_stream_get_every_event_of_a_scripted_call_in_order,
    a_receiver_that_is_down_does_not_delay_the_call,
    the_dtmf_menus_hash_key_hangs_up,
    a_key_without_a_menu_entry_changes_nothing_but_its_event,
);

fn a_receiver_and_a_stream_get_every_event_of_a_scripted_call_in_order() {
    let rig = rig();
    let receiver = Receiver::start();
    let files = setup(&rig, &events_table(&receiver.url));
    let mut bot = Bot::start(&files);
    // Subscribed before its head is sent: every event from now on reaches it.
    let stream = Stream::open(&bot);
    scripted_call(&rig, &mut bot, "5", true);
    let got = receiver.wait_for("ended", Duration::from_secs(10));
    let kinds = types(&got);
    // Ringing (and the caller's identity as it arrives), then the rest in order.
    let answered = kinds.iter().position(|k| k == "answered").unwrap();
    assert_eq!(kinds[0], "ringing", "{kinds:?}");
    assert!(
        kinds[..answered]
            .iter()
            .all(|k| k == "ringing" || k == "caller_identified"),
        "{kinds:?}"
    );
    assert_eq!(
        &kinds[answered..],
        ["answered", "dtmf", "ended"],
        "{kinds:?}"
    );
    // Ids without a gap, one call id, the caller, the key, the end.
    let ids: Vec<u64> = got.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    let first = ids[0];
    assert_eq!(ids, (first..first + ids.len() as u64).collect::<Vec<_>>());
    assert!(
        got.iter()
            .all(|e| e["call_id"] == got[0]["call_id"] && !e["call_id"].is_null())
    );
    assert_eq!(got[answered]["caller"], CALLER);
    assert_eq!(got[answered]["caller_id"], "number");
    assert_eq!(got[answered]["rings"], 2);
    assert_eq!(got[answered + 1]["key"], "5");
    let ended = &got[answered + 2];
    assert_eq!(ended["reason"], "caller_hung_up");
    assert!(ended["duration_s"].as_u64().is_some(), "{ended}");
    assert!(
        got.iter()
            .filter(|e| e["type"] == "ringing")
            .any(|e| e["caller"] == CALLER),
        "the caller ID reaches a ringing event: {got:?}"
    );
    // The stream showed the very same events.
    let end = Instant::now() + Duration::from_secs(10);
    while stream.events().len() < got.len() {
        assert!(Instant::now() < end, "stream: {:?}", stream.events());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(stream.events(), got);
    assert_eq!(
        bot.stop_with(Signal::SIGTERM, Duration::from_secs(15))
            .code(),
        Some(0)
    );
}

fn a_receiver_that_is_down_does_not_delay_the_call() {
    // Baseline: the same call without webhooks.
    let rig_a = rig();
    let files = setup(&rig_a, "");
    let mut bot = Bot::start(&files);
    let without = scripted_call(&rig_a, &mut bot, "5", true);
    bot.stop_with(Signal::SIGTERM, Duration::from_secs(15));

    // A receiver that accepts connections and never answers: each attempt lasts the
    // whole timeout (3 s), the worst a receiver can do.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", silent.local_addr().unwrap());
    let rig_b = rig();
    let files = setup(&rig_b, &events_table(&url));
    let mut bot = Bot::start(&files);
    let with = scripted_call(&rig_b, &mut bot, "5", true);
    let calls = bot.calls(10);
    assert_eq!(calls[0]["answered"], true);
    assert_eq!(calls[0]["rings"], 2);
    eprintln!("the call took {with:?} with a silent receiver, {without:?} without webhooks");
    silent.set_nonblocking(true).unwrap();
    assert!(silent.accept().is_ok(), "the bot did try the receiver");
    assert!(
        with < without + Duration::from_secs(1),
        "with a silent receiver the call took {with:?}, without {without:?}"
    );
    let stopping = Instant::now();
    assert_eq!(
        bot.stop_with(Signal::SIGTERM, Duration::from_secs(20))
            .code(),
        Some(0)
    );
    // The shutdown gives the webhook a bounded grace, never the attempts' full course.
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "{:?}",
        stopping.elapsed()
    );
    drop(silent);
}

fn the_dtmf_menus_hash_key_hangs_up() {
    let rig = rig();
    let receiver = Receiver::start();
    let menu = "[dtmf]\n\"#\" = { action = \"hangup\" }\n";
    let files = setup(&rig, &format!("{}\n{menu}", events_table(&receiver.url)));
    let mut bot = Bot::start(&files);
    // The caller never hangs up: the key alone ends the call.
    scripted_call(&rig, &mut bot, "#", false);
    let calls = bot.calls(10);
    assert_eq!(calls[0]["answered"], true);
    assert_eq!(calls[0]["end"], "we_hung_up", "{:?}", calls[0]);
    let commands = host_commands(&rig.transcript().unwrap());
    assert!(commands.iter().any(|c| c == r"AT+CHUP\r"), "{commands:?}");
    let got = receiver.wait_for("ended", Duration::from_secs(10));
    let kinds = types(&got);
    let n = kinds.len();
    assert_eq!(&kinds[n - 3..], ["answered", "dtmf", "ended"], "{kinds:?}");
    assert_eq!(got[n - 2]["key"], "#");
    assert_eq!(got[n - 1]["reason"], "we_hung_up");
    assert_eq!(
        bot.stop_with(Signal::SIGTERM, Duration::from_secs(15))
            .code(),
        Some(0)
    );
}

fn a_key_without_a_menu_entry_changes_nothing_but_its_event() {
    let rig = rig();
    let files = setup(&rig, "[dtmf]\n\"#\" = { action = \"hangup\" }\n");
    let mut bot = Bot::start(&files);
    let sim = rig.sim().unwrap();
    sim.call(CALLER, false, None).unwrap();
    bot.wait_status("the answer", Duration::from_secs(15), |s| {
        s["current_call"]["state"] == "active"
    });
    sim.dtmf("7").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let live = bot.status().unwrap();
    assert_eq!(live["current_call"]["state"], "active", "{live}");
    sim.hangup().unwrap();
    let calls = bot.wait_calls(1, Duration::from_secs(10));
    assert_eq!(calls[0]["end"], "caller_hung_up");
}

#[test]
fn a_menu_file_that_is_not_audio_is_refused_at_start_naming_the_key_and_the_file() {
    let rig = rig();
    let notes = rig.dir().join("notes.txt");
    std::fs::write(&notes, "not audio").unwrap();
    let files = setup(
        &rig,
        &format!("[dtmf]\n\"1\" = {{ action = \"play\", file = {notes:?} }}\n"),
    );
    let out = std::process::Command::new(hil_tests::sim7600_bin().unwrap())
        .arg("--config")
        .arg(&files.config)
        .arg("voice-bot")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("[dtmf] \"1\"") && stderr.contains("notes.txt"),
        "{stderr}"
    );
    // Refused before the port was touched: smstools (the stand-in) still runs.
    assert!(bot::smstools_flag(&rig).exists());
}
