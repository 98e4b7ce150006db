//! The Python side, as agent authors run it: a real Pipecat bot (FastAPIWebsocketTransport,
//! parse_telephony_websocket, TwilioFrameSerializer with base_url at the bot's API) with an
//! echo pipeline, and twilio-python with `client.api.base_url` at the bot. Both come from
//! PyPI into target/pyenv (`hil-tests/python/setup-venv.sh`); without it these tests fail
//! saying so.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use hil_tests::Rig;
use serde_json::Value;

use crate::support::bot::{self, audio_rig};
use crate::support::web;
use crate::support::{audio, free_port};

const CALLER: &str = "+491761234567";
const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "s3cret-token";
/// How long the Pipecat bot may take to listen (Python imports Pipecat first).
const PYTHON_START_WITHIN: Duration = Duration::from_secs(30);

/// One Python agent at a time. An interpreter importing Pipecat takes seconds of CPU, and
/// the echo test times the audio coming back: it should not share the cores with a second
/// interpreter starting up while the rig's other scenarios run beside it.
static ONE_PYTHON_AGENT: Mutex<()> = Mutex::new(());

fn one_python_agent() -> MutexGuard<'static, ()> {
    // A failed test poisons the lock; the next one may still run.
    ONE_PYTHON_AGENT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

fn python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/pyenv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run hil-tests/python/setup-venv.sh (it installs pipecat-ai and \
         twilio from PyPI into target/pyenv)",
        venv.display()
    );
    venv
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(name)
}

/// A bot with call audio and the Twilio account (`extra`: more tables) answering on the
/// first ring.
fn start_bot(rig: &Rig, extra: &str) -> bot::Bot {
    bot::audio_bot(
        rig,
        &format!("[twilio]\naccount_sid = \"{ACCOUNT}\"\nauth_token = \"{TOKEN}\"\n{extra}"),
    )
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn log_lines(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn wait_log(log: &Path, what: &str, mut found: impl FnMut(&[Value]) -> bool) -> Vec<Value> {
    audio::wait_for(what, || {
        let lines = log_lines(log);
        found(&lines).then_some(lines)
    })
}

fn count(lines: &[Value], event: &str) -> usize {
    lines.iter().filter(|l| l["event"] == event).count()
}

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(
    a_pipecat_echo_bot_hears_the_caller_echoes_keys_hangs_up_and_sees_the_callers_hang_up,
    twilio_python_dials_streams_on_answer_hangs_up_sends_sms_and_validates_callbacks,
);

fn a_pipecat_echo_bot_hears_the_caller_echoes_keys_hangs_up_and_sees_the_callers_hang_up() {
    let _alone = one_python_agent();
    let python = python();
    let (rig, _audio_dir) = audio_rig();
    let sim = rig.sim().unwrap();
    let agent_port = free_port();
    let log = rig.dir().join("pipecat.jsonl");
    // The bot's API port is chosen by write_config: start the bot first, then Pipecat.
    let mut bot = start_bot(
        &rig,
        &format!("\n[agent]\nstream_url = \"ws://127.0.0.1:{agent_port}/media\"\n"),
    );
    let _pipecat = Killed(
        Command::new(&python)
            .arg(script("pipecat_echo_bot.py"))
            .args(["--port", &agent_port.to_string(), "--log"])
            .arg(&log)
            .args(["--base-url", &format!("http://127.0.0.1:{}", bot.api_port)])
            .args(["--account", ACCOUNT, "--token", TOKEN])
            .spawn()
            .unwrap(),
    );
    // Python starts Pipecat in seconds on a quiet machine, in more on a busy one.
    hil_tests::wait::wait_for("Pipecat listening", PYTHON_START_WITHIN, || {
        std::net::TcpStream::connect(("127.0.0.1", agent_port)).ok()
    })
    .unwrap();

    sim.tone(1000).unwrap();
    sim.call(CALLER, false, None).unwrap();
    bot.wait_status("an answered call", Duration::from_secs(15), |s| {
        s["current_call"]["state"] == "active"
    });
    let lines = wait_log(&log, "Pipecat's connected", |l| count(l, "connected") == 1);
    let connected = lines.iter().find(|l| l["event"] == "connected").unwrap();
    assert_eq!(connected["transport"], "twilio", "{connected}");
    assert!(connected["call_id"].as_str().unwrap().starts_with("CA"));
    assert_eq!(connected["body"]["From"], CALLER, "{connected}");
    // The echo: 1 kHz back at the modem.
    let rx = audio::wait_for("the echoed tone at the modem", || {
        let rx = sim.state().ok()?.audio?.received;
        (rx.audible_frames >= 40).then_some(rx)
    });
    assert!((rx.dominant_hz.unwrap() - 1000.0).abs() <= 20.0, "{rx:?}");
    sim.dtmf("5").unwrap();
    wait_log(&log, "Pipecat's DTMF frame", |l| {
        l.iter().any(|e| e["event"] == "dtmf" && e["key"] == "5")
    });
    // `#`: the bot's EndFrame; TwilioFrameSerializer hangs up through the REST subset.
    sim.dtmf("#").unwrap();
    let lines = wait_log(&log, "Pipecat's end frame", |l| count(l, "end_frame") == 1);
    let ended_at = lines.iter().find(|l| l["event"] == "end_frame").unwrap()["t"]
        .as_f64()
        .unwrap();
    audio::wait_for("AT+CHUP at the modem", || {
        let commands = sim.state().ok()?.modem.commands;
        commands.iter().any(|c| c == "AT+CHUP").then_some(())
    });
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        now - ended_at < 1.0,
        "AT+CHUP {:.3} s after the end frame",
        now - ended_at
    );
    bot.wait_status("no call", Duration::from_secs(5), |s| {
        s["current_call"].is_null()
    });

    // A second call: the caller hangs up; Pipecat gets stop and the close.
    let before = count(&log_lines(&log), "disconnected");
    sim.call(CALLER, false, None).unwrap();
    wait_log(&log, "the second stream", |l| count(l, "connected") == 2);
    std::thread::sleep(Duration::from_millis(500));
    let hung_up = Instant::now();
    sim.hangup().unwrap();
    wait_log(&log, "Pipecat's disconnect", |l| {
        count(l, "disconnected") > before
    });
    assert!(
        hung_up.elapsed() < Duration::from_secs(3),
        "{:?}",
        hung_up.elapsed()
    );
}

fn twilio(python: &Path, base: &str, args: &[&str]) -> Value {
    let out = Command::new(python)
        .arg(script("twilio_client.py"))
        .args([base, ACCOUNT, TOKEN])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "twilio_client.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn twilio_python_dials_streams_on_answer_hangs_up_sends_sms_and_validates_callbacks() {
    let _alone = one_python_agent();
    let python = python();
    let (rig, _audio_dir) = audio_rig();
    let sim = rig.sim().unwrap();
    // The agent: takes the stream's first two messages.
    let agent = TcpListener::bind("127.0.0.1:0").unwrap();
    let agent_url = format!("ws://{}/media", agent.local_addr().unwrap());
    let (started_tx, started) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (tcp, _) = agent.accept().unwrap();
        let mut ws = tungstenite::accept(tcp).unwrap();
        let mut first = Vec::new();
        while let Ok(m) = ws.read() {
            if let tungstenite::Message::Text(t) = m {
                first.push(serde_json::from_str::<Value>(t.as_str()).unwrap());
                if first.len() == 2 {
                    started_tx.send(first.clone()).unwrap();
                }
            }
        }
    });
    let (callback_url, cb_rx) = web::receiver("/status");
    let bot = start_bot(&rig, "");
    let base = format!("http://127.0.0.1:{}", bot.api_port);
    let twiml = format!(r#"<Response><Connect><Stream url="{agent_url}"/></Connect></Response>"#);
    let call = twilio(
        &python,
        &base,
        &["call", "+4930123456", "+4917000", &twiml, &callback_url],
    );
    let sid = call["sid"].as_str().unwrap().to_owned();
    assert_eq!(call["status"], "queued");
    audio::wait_for("ATD at the modem", || {
        let commands = sim.state().ok()?.modem.commands;
        commands
            .iter()
            .any(|c| c == "ATD+4930123456;")
            .then_some(())
    });
    assert!(
        started.recv_timeout(Duration::from_millis(500)).is_err(),
        "the stream waits for the answer"
    );
    sim.command(modem_sim::ControlCommand::Answer).unwrap();
    let first = started.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(first[1]["start"]["callSid"], sid.as_str());
    assert_eq!(
        twilio(&python, &base, &["fetch", &sid])["status"],
        "in-progress"
    );
    twilio(&python, &base, &["hangup", &sid]);
    audio::wait_for("AT+CHUP at the modem", || {
        let commands = sim.state().ok()?.modem.commands;
        commands.iter().any(|c| c == "AT+CHUP").then_some(())
    });
    audio::wait_for("completed", || {
        (twilio(&python, &base, &["fetch", &sid])["status"] == "completed").then_some(())
    });
    for expected in ["ringing", "in-progress", "completed"] {
        let callback = cb_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let signature = callback.header("x-twilio-signature").unwrap_or_default();
        let form = &callback.body;
        assert!(form.contains(&format!("CallStatus={expected}")), "{form}");
        let valid = twilio(
            &python,
            &base,
            &["validate", &callback_url, signature, form],
        );
        assert_eq!(valid["valid"], true, "RequestValidator refused {form}");
    }
    let missing = twilio(
        &python,
        &base,
        &["missing", "CA00000000000000000000000000000000"],
    );
    assert_eq!(
        (missing["status"].as_u64(), missing["code"].as_u64()),
        (Some(404), Some(20404))
    );

    let message = twilio(
        &python,
        &base,
        &["sms", "+491701234567", "hello from twilio-python"],
    );
    let msid = message["sid"].as_str().unwrap().to_owned();
    audio::wait_for("the SMS at the modem", || {
        let sent = sim.state().ok()?.modem.sent;
        sent.iter()
            .any(|s| s.text == "hello from twilio-python")
            .then_some(())
    });
    audio::wait_for("sent", || {
        (twilio(&python, &base, &["message", &msid])["status"] == "sent").then_some(())
    });
}
