//! The media stream to an AI agent (`[agent] stream_url`), against a WebSocket server
//! written here as the agent, speaking Twilio Media Streams: `connected`, `start` (SIDs,
//! `customParameters`, `mediaFormat`), the caller's 1 kHz tone as µ-law `media` echoed
//! back into the call (the simulator hears 1 kHz), `dtmf`, a `mark` echoed once played,
//! `stop` and a close when the caller hangs up; the agent closing the socket hangs up; an
//! agent that cannot be reached gets the fallback played, then the call is hung up.

use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::Message;

use crate::support::audio::{self, write_sine_wav};
use crate::support::bot::{self, audio_rig, q};
use crate::support::http::{loopback, request};
use crate::support::web::{self, twiml_app};

const CALLER: &str = "+491761234567";

/// A bot with call audio and `[agent]` (`agent` its keys) answering on the first ring.
/// Waits until the simulator's far end rings for the call the bot dialled.
fn far_end_ringing(sim: &hil_tests::SimHandle) {
    audio::wait_for("the far end ringing", || {
        let calls = sim.state().ok()?.modem.calls;
        (calls.first()?.direction == "outgoing").then_some(())
    });
}

/// The far end answers the bot's dialled call once it rings; then waits up to `within` for
/// the bot to hang up (`when`: after what) and returns the simulator's state.
fn answered_until_hung_up(
    bot: &mut bot::Bot,
    sim: &hil_tests::SimHandle,
    when: &str,
    within: Duration,
) -> modem_sim::SimState {
    far_end_ringing(sim);
    sim.command(modem_sim::ControlCommand::Answer).unwrap();
    bot.wait_status(&format!("the call hung up {when}"), within, |s| {
        s["current_call"].is_null()
    });
    sim.state().unwrap()
}

fn start_bot(rig: &hil_tests::Rig, agent: &str) -> bot::Bot {
    bot::audio_bot(rig, &format!("[agent]\n{agent}"))
}

/// What the agent did: every message it got, in order, and whether the bot closed.
struct Seen {
    messages: Vec<Value>,
    closed_by_bot: bool,
}

/// An echo agent on a free port: sends back every `media` payload, and a mark `m1` after
/// the first 25 media; with `close_after` it closes the socket after that many media.
fn echo_agent(close_after: Option<usize>) -> (String, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/stream", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept(tcp).unwrap();
        let mut seen = Seen {
            messages: Vec::new(),
            closed_by_bot: false,
        };
        let mut media = 0;
        loop {
            let message = match ws.read() {
                Ok(Message::Text(t)) => serde_json::from_str::<Value>(t.as_str()).unwrap(),
                Ok(Message::Close(_)) | Err(_) => {
                    seen.closed_by_bot = true;
                    break;
                }
                Ok(_) => continue,
            };
            let sid = message["streamSid"].clone();
            if message["event"] == "media" {
                media += 1;
                let echo = json!({"event": "media", "streamSid": sid,
                    "media": {"payload": message["media"]["payload"]}});
                ws.send(Message::text(echo.to_string())).unwrap();
                if media == 25 {
                    let mark = json!({"event": "mark", "streamSid": sid, "mark": {"name": "m1"}});
                    ws.send(Message::text(mark.to_string())).unwrap();
                }
                if close_after == Some(media) {
                    seen.messages.push(message);
                    let _ = ws.close(None);
                    let _ = ws.flush();
                    break;
                }
            }
            seen.messages.push(message);
        }
        tx.send(seen).unwrap();
    });
    (url, rx)
}

fn is_sid(v: &Value, prefix: &str) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 34
            && s.starts_with(prefix)
            && s[2..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(
    the_caller_is_streamed_to_the_agent_and_its_echo_comes_back_into_the_call,
    the_agent_closing_the_stream_hangs_the_call_up,
    an_agent_that_cannot_be_reached_gets_the_fallback_played_then_the_call_hung_up,
    a_dialled_call_is_streamed_to_the_agent_its_post_named_once_the_far_end_answers,
    the_twilio_rest_subset_dials_streams_hangs_up_sends_sms_and_signs_its_callbacks,
    clear_drops_the_queued_audio_at_once_and_echoes_the_pending_mark,
    the_voice_url_is_posted_the_calls_fields_and_its_twiml_is_followed,
    round_trip_through_an_echo_agent_is_measured_and_every_burst_comes_back,
    a_dialled_call_with_play_url_plays_the_wav_to_the_far_end_then_hangs_up,
    a_dialled_call_with_say_speaks_to_the_far_end_then_hangs_up,
    a_call_created_with_a_url_asks_it_for_twiml_once_answered_and_follows_it,
);

fn the_caller_is_streamed_to_the_agent_and_its_echo_comes_back_into_the_call() {
    let (rig, _audio_dir) = audio_rig();
    let sim = rig.sim().unwrap();
    let (url, seen) = echo_agent(None);
    let mut bot = start_bot(
        &rig,
        &format!("stream_url = {}\n", q(std::path::Path::new(&url))),
    );
    sim.tone(1000).unwrap();
    sim.call(CALLER, false, None).unwrap();
    bot.wait_status("an answered call", Duration::from_secs(15), |s| {
        s["current_call"]["state"] == "active"
    });
    // The echo: the caller's 1 kHz back at the modem, through µ-law both ways.
    let rx = audio::wait_for("the echoed tone at the modem", || {
        let rx = sim.state().ok()?.audio?.received;
        (rx.audible_frames >= 40).then_some(rx)
    });
    let hz = rx.dominant_hz.unwrap();
    assert!((hz - 1000.0).abs() <= 20.0, "{rx:?}");
    sim.dtmf("5").unwrap();
    std::thread::sleep(Duration::from_millis(700));
    sim.hangup().unwrap();
    let seen = seen.recv_timeout(Duration::from_secs(10)).unwrap();
    let m = &seen.messages;
    assert_eq!(
        m[0],
        json!({"event":"connected","protocol":"Call","version":"1.0.0"})
    );
    let start = &m[1];
    assert_eq!(start["event"], "start");
    assert!(is_sid(&start["streamSid"], "MZ") && is_sid(&start["start"]["callSid"], "CA"));
    assert!(is_sid(&start["start"]["accountSid"], "AC"), "{start}");
    assert_eq!(start["start"]["customParameters"]["From"], CALLER);
    assert_eq!(start["start"]["customParameters"]["Direction"], "inbound");
    assert_eq!(
        start["start"]["mediaFormat"],
        json!({"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1})
    );
    let media: Vec<&Value> = m.iter().filter(|v| v["event"] == "media").collect();
    assert!(media.len() > 50, "{}", media.len());
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(media[0]["media"]["payload"].as_str().unwrap())
        .unwrap();
    assert_eq!(payload.len(), 160);
    assert_eq!(media[1]["media"]["timestamp"], "20");
    assert_eq!(media[1]["media"]["chunk"], "2");
    assert!(
        m.iter()
            .any(|v| v["event"] == "dtmf" && v["dtmf"]["digit"] == "5"),
        "no dtmf"
    );
    assert!(
        m.iter()
            .any(|v| v["event"] == "mark" && v["mark"]["name"] == "m1"),
        "mark m1 was not echoed"
    );
    assert_eq!(m.last().unwrap()["event"], "stop", "{:?}", m.last());
    assert!(seen.closed_by_bot);
}

fn the_agent_closing_the_stream_hangs_the_call_up() {
    let (rig, _audio_dir) = audio_rig();
    let sim = rig.sim().unwrap();
    let (url, seen) = echo_agent(Some(10));
    let mut bot = start_bot(
        &rig,
        &format!("stream_url = {}\n", q(std::path::Path::new(&url))),
    );
    sim.call(CALLER, false, None).unwrap();
    bot.wait_status("an answered call", Duration::from_secs(15), |s| {
        s["current_call"]["state"] == "active"
    });
    seen.recv_timeout(Duration::from_secs(10)).unwrap();
    let closed = Instant::now();
    bot.wait_status("the call hung up", Duration::from_secs(5), |s| {
        s["current_call"].is_null()
    });
    assert!(
        closed.elapsed() < Duration::from_secs(2),
        "{:?}",
        closed.elapsed()
    );
    assert!(
        sim.state()
            .unwrap()
            .modem
            .commands
            .iter()
            .any(|c| c == "AT+CHUP")
    );
}

fn an_agent_that_cannot_be_reached_gets_the_fallback_played_then_the_call_hung_up() {
    let (rig, _audio_dir) = audio_rig();
    let sim = rig.sim().unwrap();
    let fallback = rig.dir().join("sorry.wav");
    write_sine_wav(&fallback, 8000, 1, 440.0, 0.6);
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut bot = start_bot(
        &rig,
        &format!(
            "stream_url = \"ws://127.0.0.1:{port}/\"\nfallback = {}\n",
            q(&fallback)
        ),
    );
    sim.call(CALLER, false, None).unwrap();
    bot.wait_status("an answered call", Duration::from_secs(15), |s| {
        s["current_call"]["state"] == "active"
    });
    bot.wait_status("the call hung up", Duration::from_secs(10), |s| {
        s["current_call"].is_null()
    });
    let state = sim.state().unwrap();
    let rx = state.audio.unwrap().received;
    assert_eq!(
        rx.dominant_hz,
        Some(440.0),
        "the fallback was played: {rx:?}"
    );
    assert!(rx.audible_frames >= 20, "{rx:?}");
    assert!(state.modem.commands.iter().any(|c| c == "AT+CHUP"));
    assert!(
        bot.log_text().contains("cannot connect"),
        "{}",
        bot.log_text()
    );
}

fn a_dialled_call_is_streamed_to_the_agent_its_post_named_once_the_far_end_answers() {
    let (rig, _audio_dir) = audio_rig();
    let sim = rig.sim().unwrap();
    let (url, seen) = echo_agent(None);
    let bot = start_bot(&rig, "");
    let body = json!({"to": "+4930123456", "stream_url": url}).to_string();
    let (status, answer) = bot.http("POST", "/calls", Some(&body));
    assert_eq!(status, 201, "{answer}");
    far_end_ringing(sim);
    sim.tone(1000).unwrap();
    sim.command(modem_sim::ControlCommand::Answer).unwrap();
    let rx = audio::wait_for("the echoed tone at the modem", || {
        let rx = sim.state().ok()?.audio?.received;
        (rx.audible_frames >= 40).then_some(rx)
    });
    assert!((rx.dominant_hz.unwrap() - 1000.0).abs() <= 20.0, "{rx:?}");
    let (status, _) = bot.http("POST", "/calls/current/hangup", None);
    assert_eq!(status, 202);
    let seen = seen.recv_timeout(Duration::from_secs(10)).unwrap();
    let start = &seen.messages[1];
    assert_eq!(
        start["start"]["customParameters"]["To"], "+4930123456",
        "{start}"
    );
    assert_eq!(
        start["start"]["customParameters"]["Direction"],
        "outbound-api"
    );
    assert_eq!(seen.messages.last().unwrap()["event"], "stop");
    assert!(seen.closed_by_bot);
    assert!(
        sim.state()
            .unwrap()
            .modem
            .commands
            .iter()
            .any(|c| c == "AT+CHUP")
    );
}

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "s3cret-token";

/// A request with a form body, with HTTP Basic auth of the account when `auth`; status
/// and JSON.
fn twilio_http(port: u16, method: &str, path: &str, form: &str, auth: bool) -> (u16, Value) {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:{TOKEN}"));
    let basic = format!("Basic {basic}");
    let form_type = "application/x-www-form-urlencoded";
    let auth = auth.then_some(basic.as_str());
    request(
        loopback(port),
        method,
        path,
        form_type,
        form.as_bytes(),
        auth,
    )
    .unwrap()
}

fn esc(text: &str) -> String {
    host_linux::agent::rest::form_escape(text)
}

/// Checks a signature with Python's own hmac, the way twilio-python's RequestValidator
/// computes it (URL, then the sorted parameters, each key then value).
fn python_signature_ok(url: &str, form: &str, signature: &str) -> bool {
    let script = r#"
import sys, hmac, hashlib, base64, urllib.parse
url, form, token, sig = sys.argv[1:5]
params = urllib.parse.parse_qsl(form, keep_blank_values=True)
data = url + "".join(k + v for k, v in sorted(params))
calc = base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()
sys.exit(0 if hmac.compare_digest(calc, sig) else 1)
"#;
    std::process::Command::new("python3")
        .args(["-c", script, url, form, TOKEN, signature])
        .status()
        .expect("python3 is needed to check the callback signatures (apt-get install python3)")
        .success()
}

fn the_twilio_rest_subset_dials_streams_hangs_up_sends_sms_and_signs_its_callbacks() {
    let (rig, _audio_dir) = audio_rig();
    let sim = rig.sim().unwrap();
    let (agent_url, seen) = echo_agent(None);
    let (callback_url, callbacks) = web::receiver("/status");
    let bot = start_bot(
        &rig,
        &format!("\n[twilio]\naccount_sid = \"{ACCOUNT}\"\nauth_token = \"{TOKEN}\"\n"),
    );
    let port = bot.api_port;
    let calls = format!("/2010-04-01/Accounts/{ACCOUNT}/Calls.json");
    let (status, body) = twilio_http(port, "POST", &calls, "To=%2B4930123456", false);
    assert_eq!((status, &body["code"]), (401, &json!(20003)), "{body}");

    let twiml = format!(
        r#"<Response><Connect><Stream url="{agent_url}"><Parameter name="Plan" value="pro"/></Stream></Connect></Response>"#
    );
    let form = format!(
        "To=%2B4930123456&From=%2B4917000&Twiml={}&StatusCallback={}&StatusCallbackEvent=ringing&StatusCallbackEvent=answered&StatusCallbackEvent=completed",
        esc(&twiml),
        esc(&callback_url)
    );
    let (status, call) = twilio_http(port, "POST", &calls, &form, true);
    assert_eq!(status, 201, "{call}");
    assert_eq!(call["status"], "queued");
    assert_eq!(call["direction"], "outbound-api");
    let sid = call["sid"].as_str().unwrap().to_owned();
    assert!(is_sid(&call["sid"], "CA"), "{call}");
    let one = format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/{sid}.json");
    audio::wait_for("ringing", || {
        (twilio_http(port, "GET", &one, "", true).1["status"] == "ringing").then_some(())
    });
    assert!(
        sim.state()
            .unwrap()
            .modem
            .commands
            .iter()
            .any(|c| c == "ATD+4930123456;")
    );
    sim.command(modem_sim::ControlCommand::Answer).unwrap();
    audio::wait_for("in progress", || {
        (twilio_http(port, "GET", &one, "", true).1["status"] == "in-progress").then_some(())
    });
    std::thread::sleep(Duration::from_millis(300));
    let asked = Instant::now();
    let (status, body) = twilio_http(port, "POST", &one, "Status=completed", true);
    assert_eq!(status, 200, "{body}");
    audio::wait_for("AT+CHUP at the modem", || {
        let commands = sim.state().ok()?.modem.commands;
        commands.iter().any(|c| c == "AT+CHUP").then_some(())
    });
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    audio::wait_for("completed", || {
        (twilio_http(port, "GET", &one, "", true).1["status"] == "completed").then_some(())
    });
    let seen = seen.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(
        seen.messages[1]["start"]["callSid"],
        sid.as_str(),
        "the stream's CallSid"
    );
    assert_eq!(seen.messages[1]["start"]["accountSid"], ACCOUNT);
    assert_eq!(seen.messages[1]["start"]["customParameters"]["Plan"], "pro");
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let callback = callbacks.recv_timeout(Duration::from_secs(10)).unwrap();
        let signature = callback.header("x-twilio-signature").unwrap_or_default();
        let form = &callback.body;
        assert!(
            python_signature_ok(&callback_url, form, signature),
            "{form} {signature}"
        );
        let status = form
            .split('&')
            .find_map(|p| p.strip_prefix("CallStatus="))
            .unwrap()
            .to_owned();
        statuses.push(status);
    }
    assert_eq!(statuses, ["ringing", "in-progress", "completed"]);

    let missing =
        format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/CA00000000000000000000000000000000.json");
    let (status, body) = twilio_http(port, "GET", &missing, "", true);
    assert_eq!(
        (status, &body["code"], &body["status"]),
        (404, &json!(20404), &json!(404))
    );

    let messages = format!("/2010-04-01/Accounts/{ACCOUNT}/Messages.json");
    let (status, message) = twilio_http(
        port,
        "POST",
        &messages,
        "To=%2B491701234567&Body=hello+from+the+agent",
        true,
    );
    assert_eq!(status, 201, "{message}");
    assert!(is_sid(&message["sid"], "SM"), "{message}");
    let msg = format!(
        "/2010-04-01/Accounts/{ACCOUNT}/Messages/{}.json",
        message["sid"].as_str().unwrap()
    );
    audio::wait_for("the SMS at the modem", || {
        let sent = sim.state().ok()?.modem.sent;
        sent.iter()
            .any(|s| s.text == "hello from the agent")
            .then_some(())
    });
    audio::wait_for("the message sent", || {
        (twilio_http(port, "GET", &msg, "", true).1["status"] == "sent").then_some(())
    });
}

fn clear_drops_the_queued_audio_at_once_and_echoes_the_pending_mark() {
    use base64::Engine as _;
    let (rig, _audio_dir) = audio_rig();
    let sim = rig.sim().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/media", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept(tcp).unwrap();
        let mut sid = Value::Null;
        while sid.is_null() {
            if let Ok(Message::Text(t)) = ws.read() {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["event"] == "start" {
                    sid = v["streamSid"].clone();
                }
            }
        }
        // 3 s of 440 Hz as 150 media messages at once, then a mark.
        for n in 0..150 {
            let chunk: Vec<u8> = (0..160)
                .map(|i| {
                    let t = (n * 160 + i) as f64 / 8000.0;
                    let s = ((t * 440.0 * std::f64::consts::TAU).sin() * 8000.0) as i16;
                    host_linux::agent::mulaw::encode(s)
                })
                .collect();
            let payload = base64::engine::general_purpose::STANDARD.encode(chunk);
            let m = json!({"event":"media","streamSid":sid,"media":{"payload":payload}});
            ws.send(Message::text(m.to_string())).unwrap();
        }
        let mark = json!({"event":"mark","streamSid":sid,"mark":{"name":"after-burst"}});
        ws.send(Message::text(mark.to_string())).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let cleared = Instant::now();
        ws.send(Message::text(
            json!({"event":"clear","streamSid":sid}).to_string(),
        ))
        .unwrap();
        loop {
            match ws.read() {
                Ok(Message::Text(t)) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    if v["event"] == "mark" {
                        tx.send((v["mark"]["name"].clone(), cleared.elapsed()))
                            .unwrap();
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    let mut bot = start_bot(&rig, &format!("stream_url = \"{url}\"\n"));
    sim.call(CALLER, false, None).unwrap();
    bot.wait_status("an answered call", Duration::from_secs(15), |s| {
        s["current_call"]["state"] == "active"
    });
    let (name, after_clear) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(name, "after-burst");
    assert!(after_clear < Duration::from_millis(500), "{after_clear:?}");
    // Well past the 3 s the burst lasted: only what played before the clear was heard.
    std::thread::sleep(Duration::from_secs(3));
    let heard = sim.state().unwrap().audio.unwrap().received;
    assert!(
        heard.audible_frames > 5 && heard.audible_frames < 60,
        "about 0.5 s of the 3 s burst played: {heard:?}"
    );
}

fn the_voice_url_is_posted_the_calls_fields_and_its_twiml_is_followed() {
    let (rig, _audio_dir) = audio_rig();
    let sim = rig.sim().unwrap();
    let (agent_url, seen) = echo_agent(None);
    let wav = rig.dir().join("hello.wav");
    write_sine_wav(&wav, 8000, 1, 440.0, 0.6);
    let wav = std::fs::read(&wav).unwrap();
    let (web_url, forms) = twiml_app(
        |web_url| {
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Response><Play>{web_url}/hello.wav</Play><Gather input="dtmf"/><Connect><Stream url="{agent_url}"><Parameter name="Plan" value="pro"/></Stream></Connect></Response>"#
            )
        },
        wav,
    );
    let mut bot = start_bot(&rig, &format!("voice_url = \"{web_url}/voice\"\n"));
    sim.call(CALLER, false, None).unwrap();
    bot.wait_status("an answered call", Duration::from_secs(15), |s| {
        s["current_call"]["state"] == "active"
    });
    let (path, form) = forms.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(path, "/voice");
    for field in [
        "CallSid=CA",
        "AccountSid=AC",
        "From=%2B491761234567",
        "Direction=inbound",
        "CallStatus=in-progress",
    ] {
        assert!(form.contains(field), "{field} in {form}");
    }
    // <Play>, then the stream: the agent's start carries the <Parameter>.
    audio::wait_for("the stream to start", || {
        bot.log_text().contains("agent stream to").then_some(())
    });
    let rx = sim.state().unwrap().audio.unwrap().received;
    assert_eq!(rx.dominant_hz, Some(440.0), "<Play> played first: {rx:?}");
    assert!(
        bot.log_text().contains("TwiML <Gather>"),
        "the refused verb is named"
    );
    std::thread::sleep(Duration::from_millis(300));
    sim.hangup().unwrap();
    let seen = seen.recv_timeout(Duration::from_secs(10)).unwrap();
    let start = &seen.messages[1];
    assert_eq!(start["start"]["customParameters"]["Plan"], "pro", "{start}");
    let call_sid = start["start"]["callSid"].as_str().unwrap();
    assert!(form.contains(&format!("CallSid={call_sid}")), "{form}");
}

/// The gateway's own round trip: 100 ms bursts of 1 kHz every 500 ms from the simulated
/// caller, through an echo agent, back at the simulator; the round trip of each burst is
/// from its start at the caller to the start of its echo at the modem, minus the agent's
/// time (read to echo sent). Every burst's echo must come back within its own period.
///
/// As the benchmark (`AGENT_BENCH_SECONDS=60`, docs/performance.md) it also holds the
/// target, under 100 ms at p99; the default 5 s run in the test suite prints the figures
/// but holds no time target (a loaded CI machine is no place to time things).
fn round_trip_through_an_echo_agent_is_measured_and_every_burst_comes_back() {
    let bench: Option<u64> = std::env::var("AGENT_BENCH_SECONDS").ok().map(|s| {
        s.parse()
            .expect("AGENT_BENCH_SECONDS is a number of seconds")
    });
    let seconds = bench.unwrap_or(5);
    let (rig, _audio_dir) = audio_rig();
    let sim = rig.sim().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/media", listener.local_addr().unwrap());
    let (tx, agent_time) = mpsc::channel();
    std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_nodelay(true).unwrap();
        let mut ws = tungstenite::accept(tcp).unwrap();
        let (mut total, mut n) = (Duration::ZERO, 0u32);
        loop {
            let message = match ws.read() {
                Ok(Message::Text(t)) => t,
                Ok(_) => continue,
                Err(_) => break,
            };
            let took = Instant::now();
            let v: Value = serde_json::from_str(message.as_str()).unwrap();
            if v["event"] == "media" {
                let echo = json!({"event": "media", "streamSid": v["streamSid"],
                    "media": {"payload": v["media"]["payload"]}});
                if ws.send(Message::text(echo.to_string())).is_err() {
                    break;
                }
                total += took.elapsed();
                n += 1;
            }
        }
        let _ = tx.send(total / n.max(1));
    });
    let mut bot = start_bot(&rig, &format!("stream_url = \"{url}\"\n"));
    let (period, on) = (500u64, 100u32);
    sim.command(modem_sim::ControlCommand::Bursts {
        hz: 1000,
        on_ms: on,
        period_ms: period as u32,
    })
    .unwrap();
    sim.call(CALLER, false, None).unwrap();
    bot.wait_status("an answered call", Duration::from_secs(15), |s| {
        s["current_call"]["state"] == "active"
    });
    std::thread::sleep(Duration::from_secs(seconds + 1));
    let onsets = sim.state().unwrap().audio.unwrap().received.onsets_ms;
    sim.hangup().unwrap();
    let agent = agent_time.recv_timeout(Duration::from_secs(10)).unwrap();
    let mut trips: Vec<f64> = (1..=(seconds * 1000 / period))
        .filter_map(|k| {
            let sent = k * period;
            onsets
                .iter()
                .find(|&&o| o >= sent && o < sent + period - u64::from(on))
                .map(|o| (o - sent) as f64 - agent.as_secs_f64() * 1000.0)
        })
        .collect();
    assert!(
        trips.len() as u64 >= seconds * 1000 / period - 2,
        "bursts echoed: {} of {}; onsets {onsets:?}",
        trips.len(),
        seconds * 1000 / period
    );
    trips.sort_by(f64::total_cmp);
    let pct = |p: f64| trips[((trips.len() - 1) as f64 * p).round() as usize];
    println!(
        "agent round trip over {seconds} s: {} bursts, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms \
         (agent's own time {:?} per message, subtracted)",
        trips.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0),
        agent
    );
    if bench.is_some() {
        assert!(pct(0.99) < 100.0, "target missed: p99 {:.1} ms", pct(0.99));
    }
}

fn a_dialled_call_with_play_url_plays_the_wav_to_the_far_end_then_hangs_up() {
    let (rig, _audio_dir) = audio_rig();
    let sim = rig.sim().unwrap();
    let wav = rig.dir().join("notice.wav");
    write_sine_wav(&wav, 16000, 1, 440.0, 0.6);
    let wav = std::fs::read(&wav).unwrap();
    // A web server that gives the WAV to every GET.
    let (web, _) = twiml_app(|_| String::new(), wav);
    let play_url = format!("{web}/notice.wav");
    let mut bot = start_bot(&rig, "");
    let body = json!({"to": "+4930123456", "play_url": play_url}).to_string();
    let (status, answer) = bot.http("POST", "/calls", Some(&body));
    assert_eq!(status, 201, "{answer}");
    let two = json!({"to": "+4930123456", "say": "hi", "play_url": "http://x/"}).to_string();
    let (status, refused) = bot.http("POST", "/calls", Some(&two));
    assert_eq!(
        (status, &refused["field"]),
        (400, &json!("play_url")),
        "{refused}"
    );
    let state = answered_until_hung_up(&mut bot, sim, "after the WAV", Duration::from_secs(10));
    let rx = state.audio.unwrap().received;
    assert_eq!(rx.dominant_hz, Some(440.0), "{rx:?}");
    assert!(rx.audible_frames >= 20, "{rx:?}");
    assert!(state.modem.commands.iter().any(|c| c == "AT+CHUP"));
}

fn a_dialled_call_with_say_speaks_to_the_far_end_then_hangs_up() {
    let (rig, _audio_dir) = audio_rig();
    let sim = rig.sim().unwrap();
    let mut bot = start_bot(&rig, "");
    let body = json!({"to": "+4930123456", "say": "Your parcel has arrived."}).to_string();
    let (status, answer) = bot.http("POST", "/calls", Some(&body));
    assert_eq!(status, 201, "{answer}");
    let state = answered_until_hung_up(&mut bot, sim, "after the speech", Duration::from_secs(15));
    let rx = state.audio.unwrap().received;
    assert!(
        rx.audible_frames >= 25,
        "about a second of speech at least: {rx:?}"
    );
    assert!(state.modem.commands.iter().any(|c| c == "AT+CHUP"));
}

fn a_call_created_with_a_url_asks_it_for_twiml_once_answered_and_follows_it() {
    let (rig, _audio_dir) = audio_rig();
    let sim = rig.sim().unwrap();
    let (app, forms) = twiml_app(
        |_| r#"<Response><Pause length="1"/><Hangup/></Response>"#.into(),
        Vec::new(),
    );
    let bot = start_bot(
        &rig,
        &format!("\n[twilio]\naccount_sid = \"{ACCOUNT}\"\nauth_token = \"{TOKEN}\"\n"),
    );
    let port = bot.api_port;
    let calls = format!("/2010-04-01/Accounts/{ACCOUNT}/Calls.json");
    let (status, body) = twilio_http(port, "POST", &calls, "To=%2B4930123456", true);
    assert_eq!(
        (status, &body["code"]),
        (400, &json!(21205)),
        "neither Url nor Twiml: {body}"
    );
    let (status, body) = twilio_http(
        port,
        "POST",
        &calls,
        "To=%2B4930123456&Url=ftp%3A%2F%2Fx",
        true,
    );
    assert_eq!((status, &body["code"]), (400, &json!(21205)), "{body}");

    let form = format!(
        "To=%2B4930123456&From=%2B4917000&Url={}",
        esc(&format!("{app}/answer"))
    );
    let (status, call) = twilio_http(port, "POST", &calls, &form, true);
    assert_eq!(status, 201, "{call}");
    let sid = call["sid"].as_str().unwrap().to_owned();
    audio::wait_for("ATD at the modem", || {
        let commands = sim.state().ok()?.modem.commands;
        commands
            .iter()
            .any(|c| c == "ATD+4930123456;")
            .then_some(())
    });
    assert!(
        forms.try_recv().is_err(),
        "the Url is asked only once the far end answers"
    );
    sim.command(modem_sim::ControlCommand::Answer).unwrap();
    let (path, fields) = forms.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(path, "/answer");
    for field in [format!("CallSid={sid}"), format!("AccountSid={ACCOUNT}")] {
        assert!(fields.contains(&field), "{field} in {fields}");
    }
    // <Pause length="1"/> then <Hangup/>: AT+CHUP about a second after the answer.
    let answered = Instant::now();
    audio::wait_for("AT+CHUP at the modem", || {
        let commands = sim.state().ok()?.modem.commands;
        commands.iter().any(|c| c == "AT+CHUP").then_some(())
    });
    assert!(
        answered.elapsed() >= Duration::from_millis(800),
        "the pause came first: {:?}",
        answered.elapsed()
    );
}
