//! Call audio through `sim7600 voice-bot` itself, against the simulator's audio port: the
//! bot answers, sends AT+CPCMREG=1 after the call connects (retrying while the modem
//! refuses it), plays the configured 440 Hz greeting, records the caller's 1 kHz tone,
//! and on the caller's hang-up completes the recording and sends AT+CPCMREG=0. A
//! greeting that is not audio stops the bot's start with the file named.

use crate::support::audio;
use crate::support::bot;

use std::time::Duration;

use crate::support::audio::write_sine_wav;
use crate::support::bot::{BotSetup, RING, flag_backend, q, write_config};
use hil_tests::{Rig, SimConfig};
use host_linux::audio::{CallFormat, load_wav};
use modem_sim::audio::dominant_frequency;

const CALLER: &str = "+491761234567";

/// A rig whose simulator has an audio port (linked in a folder of its own, which lives
/// as long as the rig) and takes AT+CPCMREG=1 only 250 ms after a call connects (so the
/// bot must retry). The rig drops first: its simulator removes the link.
fn audio_rig() -> (Rig, tempfile::TempDir) {
    bot::audio_rig_with(SimConfig {
        ring_interval: RING,
        pcm_ready_after: Duration::from_millis(250),
        ..SimConfig::default()
    })
}

/// Appends an `[audio]` table to the bot's config.
fn add_audio(config: &std::path::Path, table: &str) {
    let mut text = std::fs::read_to_string(config).unwrap();
    text.push_str("\n[audio]\n");
    text.push_str(table);
    std::fs::write(config, text).unwrap();
}

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(
    the_bot_greets_the_caller_records_them_and_stops_audio_when_they_hang_up,
);

fn the_bot_greets_the_caller_records_them_and_stops_audio_when_they_hang_up() {
    let (rig, _audio_dir) = audio_rig();
    let sim = rig.sim().unwrap();
    let audio_port = sim.audio_link().unwrap().to_path_buf();
    let greeting = rig.dir().join("greeting.wav");
    write_sine_wav(&greeting, 44100, 2, 440.0, 1.0);
    let recordings = rig.dir().join("calls");
    let files = write_config(
        &rig,
        &BotSetup {
            answer_after_rings: 1,
            bot: String::new(),
            handoff: flag_backend(&rig),
        },
    );
    add_audio(
        &files.config,
        &format!(
            "enabled = true\nport = {}\ngreeting = {}\nrecordings = {{ folder = {} }}\n",
            q(&audio_port),
            q(&greeting),
            q(&recordings)
        ),
    );
    let mut bot = bot::Bot::start(&files);
    sim.tone(1000).unwrap();
    sim.call(CALLER, false, None).unwrap();
    bot.wait_status("an answered call", Duration::from_secs(15), |s| {
        s["current_call"]["state"] == "active"
    });
    // The greeting: about one second of 440 Hz at the modem.
    let rx = audio::wait_for("the greeting at the modem", || {
        let rx = sim.state().ok()?.audio?.received;
        (rx.audible_frames >= 50).then_some(rx)
    });
    std::thread::sleep(Duration::from_millis(600));
    sim.hangup().unwrap();
    bot.wait_calls(1, Duration::from_secs(10));
    assert_eq!(rx.dominant_hz, Some(440.0), "{rx:?}");
    let state = sim.state().unwrap();
    let heard = state.audio.as_ref().unwrap().received.audible_frames;
    assert!(
        (48..=53).contains(&heard),
        "{heard} frames of a 1 s greeting"
    );
    let commands = &state.modem.commands;
    let pcm: Vec<&String> = commands.iter().filter(|c| c.contains("CPCMREG")).collect();
    assert_eq!(
        pcm.first().map(|c| c.as_str()),
        Some("AT+CPCMREG=1"),
        "{commands:?}"
    );
    assert!(
        pcm.len() >= 3,
        "refused at first, retried, stopped at the end: {pcm:?}"
    );
    let recording = audio::wait_for("the call's recording", || {
        let entry = std::fs::read_dir(&recordings).ok()?.flatten().next()?;
        let clip = load_wav(&entry.path(), CallFormat::Narrowband).ok()?;
        (clip.samples().len() >= 8000).then_some((entry.path(), clip))
    });
    assert!(
        recording.0.to_string_lossy().contains(CALLER),
        "{}",
        recording.0.display()
    );
    assert_eq!(
        dominant_frequency(recording.1.samples(), 8000),
        Some(1000.0)
    );
    let log = bot.log_text();
    assert!(log.contains("recorded to"), "{log}");
    assert_eq!(
        commands.last().map(|c| c.as_str()),
        Some("AT+CPCMREG=0"),
        "{commands:?}"
    );
}

#[test]
fn a_greeting_that_is_not_audio_stops_the_bot_at_start_with_the_file_named() {
    let (rig, _audio_dir) = audio_rig();
    let greeting = rig.dir().join("greeting.wav");
    std::fs::write(&greeting, "this is a text file").unwrap();
    let files = write_config(
        &rig,
        &BotSetup {
            answer_after_rings: 1,
            bot: String::new(),
            handoff: flag_backend(&rig),
        },
    );
    add_audio(
        &files.config,
        &format!("enabled = true\ngreeting = {}\n", q(&greeting)),
    );
    let out = std::process::Command::new(hil_tests::sim7600_bin().unwrap())
        .arg("--config")
        .arg(&files.config)
        .arg("voice-bot")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "audio setting greeting: {} is not a WAV audio file",
            greeting.display()
        )),
        "{err}"
    );
}
