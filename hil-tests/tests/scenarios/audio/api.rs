//! Call audio through the HTTP API of `sim7600 voice-bot` itself, against the simulator's
//! audio port: `POST /phone_call` speaks (espeak-ng) into the call and hangs it up, a
//! `"priority": "high"` text interrupts a long play, `POST /calls/current/play` of a
//! 440 Hz WAV is heard at the modem as 440 Hz while a body that is not audio is refused
//! with 400 and the call goes on, and the caller's 1 kHz tone arrives on the live stream
//! `GET /calls/current/audio`, which ends with the call even in the middle of a play.

use std::io::Read;
use std::time::{Duration, Instant};

use hil_tests::Rig;
use hil_tests::http::Request;
use modem_sim::audio::{dominant_frequency, goertzel};
use serde_json::Value;

use crate::support::audio;
use crate::support::bot::{self, audio_rig};

const CALLER: &str = "+491761234567";
/// Bound for anything the bot does within a call (answer, audio on, a clip to start).
const WITHIN: Duration = Duration::from_secs(15);

/// A bot with call audio on the simulator's port, answering at the first ring.
fn audio_bot(rig: &Rig) -> bot::Bot {
    bot::audio_bot(rig, "")
}

/// Rings the bot and waits until the call's audio runs (as `/phone_call/status` says).
fn connected_call(rig: &Rig, bot: &mut bot::Bot) -> Value {
    rig.sim().unwrap().call(CALLER, false, None).unwrap();
    bot.wait_status("an answered call", WITHIN, |s| {
        s["current_call"]["state"] == "active"
    });
    wait_until(bot, "the call's audio", WITHIN, |s| {
        s["state"] == "connected"
    })
}

/// Waits (bounded) until `GET /phone_call/status` satisfies `check`; returns it.
fn wait_until(
    bot: &bot::Bot,
    what: &str,
    within: Duration,
    check: impl Fn(&Value) -> bool,
) -> Value {
    hil_tests::wait::wait_for(what.to_owned(), within, || {
        let (code, body) = bot.try_http("GET", "/phone_call/status", None).ok()?;
        (code == 200 && check(&body)).then_some(body)
    })
    .unwrap_or_else(|e| panic!("{e}; log:\n{}", bot.log_text()))
}

/// What the simulator heard of the host so far.
fn heard(rig: &Rig) -> modem_sim::audio::ReceivedAudio {
    rig.sim().unwrap().state().unwrap().audio.unwrap().received
}

/// Waits (bounded) until the simulator heard `check`.
fn wait_heard(
    rig: &Rig,
    what: &str,
    check: impl Fn(&modem_sim::audio::ReceivedAudio) -> bool,
) -> modem_sim::audio::ReceivedAudio {
    hil_tests::wait::wait_for(what.to_owned(), WITHIN, || {
        let rx = heard(rig);
        check(&rx).then_some(rx)
    })
    .unwrap()
}

/// A WAV (16-bit PCM) of a sine, in memory.
fn sine_wav(rate: u32, channels: u16, hz: f64, seconds: f64) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sine.wav");
    audio::write_sine_wav(&path, rate, channels, hz, seconds);
    std::fs::read(path).unwrap()
}

/// POST with a WAV body; the status and the JSON answer.
fn post_bytes(bot: &bot::Bot, path: &str, body: &[u8]) -> (u16, Value) {
    crate::support::http::request(bot.addr(), "POST", path, "audio/wav", body, None).unwrap()
}

fn phone_call(bot: &bot::Bot, body: &str) -> (u16, Value) {
    bot.http("POST", "/phone_call", Some(body))
}

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(
    a_wav_is_heard_as_440_hz_bad_audio_is_400_speech_plays_and_hangup_ends_the_call,
    a_high_priority_text_interrupts_a_long_play,
    the_callers_tone_arrives_on_the_live_stream_which_ends_cleanly_with_the_call,
    a_clients_own_call_id_is_echoed_and_speak_and_hangup_act_on_the_current_call,
);

fn a_wav_is_heard_as_440_hz_bad_audio_is_400_speech_plays_and_hangup_ends_the_call() {
    let (rig, _audio_dir) = audio_rig();
    let mut bot = audio_bot(&rig);
    let status = connected_call(&rig, &mut bot);
    assert_eq!(status["success"], true);
    // The bot's id of the call, a string a client sends back as it is.
    let call_id = status["call_id"].as_str().unwrap().to_owned();

    // 1 s of 440 Hz as people have it: 44.1 kHz stereo, converted by the bot.
    let (code, body) = post_bytes(&bot, "/calls/current/play", &sine_wav(44100, 2, 440.0, 1.0));
    assert_eq!(code, 202, "{body}");
    let rx = wait_heard(&rig, "the WAV at the modem", |rx| rx.audible_frames >= 50);
    assert_eq!(rx.dominant_hz, Some(440.0), "{rx:?}");

    let (code, body) = post_bytes(&bot, "/calls/current/play", b"not audio at all");
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["field"], "body");
    assert!(
        body["error"].as_str().unwrap().contains("not a WAV"),
        "{body}"
    );
    let status = wait_until(&bot, "the WAV to finish", WITHIN, |s| s["playing"] == false);
    assert_eq!(status["state"], "connected", "the call goes on: {status}");

    let before = heard(&rig).audible_frames;
    let (code, body) = phone_call(
        &bot,
        &format!(
            r#"{{"callId": "{call_id}", "action": "speak", "text": "Hello, this is the voice bot speaking.", "language": "en"}}"#
        ),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["call_id"], call_id);
    assert!(body["queue_size"].is_u64(), "{body}");
    // Speech: at least a second of it reaches the modem.
    let rx = wait_heard(&rig, "the speech at the modem", |rx| {
        rx.audible_frames >= before + 50
    });
    assert_ne!(
        rx.last_dominant_hz,
        Some(440.0),
        "speech, not the WAV: {rx:?}"
    );
    wait_until(&bot, "the speech to finish", WITHIN, |s| {
        s["playing"] == false && s["pending_speech"] == 0 && s["queue_size"] == 0
    });

    let (code, body) = phone_call(&bot, r#"{"action": "hangup"}"#);
    assert_eq!(code, 200, "{body}");
    let calls = bot.wait_calls(1, WITHIN);
    assert_eq!(calls[0]["end"], "we_hung_up", "{calls:?}");
    let status = wait_until(&bot, "no call", WITHIN, |s| s["state"] == "idle");
    assert_eq!(status["call_id"], Value::Null);
    let (code, body) = phone_call(&bot, r#"{"action": "speak", "text": "anyone?"}"#);
    assert_eq!(
        (code, &body["success"]),
        (409, &Value::Bool(false)),
        "{body}"
    );
}

fn a_high_priority_text_interrupts_a_long_play() {
    let (rig, _audio_dir) = audio_rig();
    let mut bot = audio_bot(&rig);
    connected_call(&rig, &mut bot);
    let (code, body) = post_bytes(&bot, "/calls/current/play", &sine_wav(8000, 1, 440.0, 30.0));
    assert_eq!(code, 202, "{body}");
    wait_heard(&rig, "the long play at the modem", |rx| {
        rx.audible_frames >= 25
    });
    let asked = Instant::now();
    let (code, body) = phone_call(
        &bot,
        r#"{"action": "speak", "text": "Stop. This is urgent.", "priority": "high"}"#,
    );
    assert_eq!(code, 200, "{body}");
    // Without the interrupt, 30 s of 440 Hz would play first.
    let status = wait_until(&bot, "the urgent text to have played", WITHIN, |s| {
        s["playing"] == false && s["pending_speech"] == 0
    });
    let took = asked.elapsed();
    assert_eq!(status["queue_size"], 0, "{status}");
    let rx = heard(&rig);
    assert!(
        rx.audible_frames < 15 * 50,
        "{} audible frames: the 30 s play was not cut short",
        rx.audible_frames
    );
    assert_eq!(
        rx.dominant_hz,
        Some(440.0),
        "it began with the play: {rx:?}"
    );
    assert_ne!(
        rx.last_dominant_hz,
        Some(440.0),
        "it ended with speech: {rx:?}"
    );
    println!(
        "high priority: the play was interrupted and the text spoken within {took:?} of the request"
    );
}

fn the_callers_tone_arrives_on_the_live_stream_which_ends_cleanly_with_the_call() {
    let (rig, _audio_dir) = audio_rig();
    let sim = rig.sim().unwrap();
    let mut bot = audio_bot(&rig);
    sim.tone(1000).unwrap();
    connected_call(&rig, &mut bot);

    let mut live = Request::new("GET", bot.addr(), "/calls/current/audio")
        .open()
        .unwrap();
    assert_eq!(live.status, 200, "{live:?}");
    for (name, value) in [
        ("Content-Type", "audio/L16;rate=8000;channels=1"),
        ("X-Audio-Format", "s16le"),
        ("X-Audio-Rate", "8000"),
        ("X-Audio-Channels", "1"),
        ("Transfer-Encoding", "chunked"),
    ] {
        assert_eq!(live.header(name), Some(value), "{name} in {live:?}");
    }
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    while bytes.len() < 16000 {
        let n = live.read(&mut chunk).unwrap();
        assert!(n > 0, "the call still runs");
        bytes.extend_from_slice(&chunk[..n]);
    }
    let samples: Vec<i16> = bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(dominant_frequency(&samples, 8000), Some(1000.0));
    let (at_1k, at_440) = (
        goertzel(&samples, 8000, 1000.0),
        goertzel(&samples, 8000, 440.0),
    );
    assert!(at_1k > 100.0 * at_440, "1 kHz {at_1k:e}, 440 Hz {at_440:e}");

    // The API serves other requests while the stream is open.
    let asked = Instant::now();
    let (code, _) = bot.http("GET", "/status", None);
    assert_eq!(code, 200);
    let status_took = asked.elapsed();

    // The caller hangs up in the middle of a long play: the play stops, the stream ends
    // with its terminating chunk, the audio closes with its summary and AT+CPCMREG=0.
    let (code, body) = post_bytes(&bot, "/calls/current/play", &sine_wav(8000, 1, 440.0, 30.0));
    assert_eq!(code, 202, "{body}");
    wait_heard(&rig, "the play at the modem", |rx| rx.audible_frames >= 25);
    sim.hangup().unwrap();
    let hung_up = Instant::now();
    // The stream reads to its end only with its terminating chunk; cut off, it fails.
    let mut after = 0usize;
    loop {
        let n = live
            .read(&mut chunk)
            .expect("a stream ended by its last chunk");
        if n == 0 {
            break;
        }
        after += n;
        assert!(
            hung_up.elapsed() < WITHIN,
            "the stream goes on after the call"
        );
    }
    let ended_after = hung_up.elapsed();
    let calls = bot.wait_calls(1, WITHIN);
    assert_eq!(calls[0]["end"], "caller_hung_up", "{calls:?}");
    // Logged once the call's audio closed and the stream's last chunk was written.
    for line in ["frames played", "stream ended: the call ended"] {
        hil_tests::wait::wait_for(format!("{line:?} in the bot's log"), WITHIN, || {
            bot.log_text().contains(line).then_some(())
        })
        .unwrap_or_else(|e| panic!("{e}: {}", bot.log_text()));
    }
    // The last audio command is the one that switched it off (a health check may follow).
    let last_pcm = hil_tests::wait::wait_for("AT+CPCMREG=0 at the modem", WITHIN, || {
        let commands = sim.state().ok()?.modem.commands;
        let last = commands
            .iter()
            .rev()
            .find(|c| c.starts_with("AT+CPCMREG"))?
            .clone();
        (last == "AT+CPCMREG=0").then_some(last)
    });
    assert!(
        last_pcm.is_ok(),
        "{:?}",
        sim.state().unwrap().modem.commands
    );
    println!(
        "live stream: 1 s of 1 kHz received; GET /status answered in {status_took:?} during \
         the stream; the stream ended {ended_after:?} after the caller hung up \
         ({after} bytes after it)"
    );
}

fn a_clients_own_call_id_is_echoed_and_speak_and_hangup_act_on_the_current_call() {
    const THEIRS: &str = "call_1761507557";
    let (rig, _audio_dir) = audio_rig();
    let mut bot = audio_bot(&rig);
    let status = connected_call(&rig, &mut bot);
    let ours = status["call_id"].as_str().unwrap().to_owned();
    assert_ne!(ours, THEIRS);

    let before = heard(&rig).audible_frames;
    let (code, body) = phone_call(
        &bot,
        &format!(
            r#"{{"callId": "{THEIRS}", "action": "speak", "text": "Hello from the client."}}"#
        ),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["call_id"], THEIRS, "echoed as given: {body}");
    wait_heard(&rig, "the speech at the modem", |rx| {
        rx.audible_frames >= before + 25
    });

    let (code, body) = phone_call(
        &bot,
        &format!(r#"{{"callId": "{THEIRS}", "action": "hangup"}}"#),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        (&body["call_id"], &body["message"]),
        (&Value::from(THEIRS), &Value::from("hanging up"))
    );
    let calls = bot.wait_calls(1, WITHIN);
    assert_eq!(calls[0]["end"], "we_hung_up", "{calls:?}");
    let log = bot.log_text();
    assert!(
        log.contains(&format!(
            "callId \"{THEIRS}\" is not the bot's id of the current call ({ours})"
        )),
        "the mismatch is logged:\n{log}"
    );
}
