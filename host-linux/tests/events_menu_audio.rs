//! The `[dtmf]` menu with call audio, through the real `sim7600 voice-bot` on the
//! simulator and its audio port: key 1 plays its file into the call (the modem hears its
//! 880 Hz), key 2 speaks a text (espeak-ng, the default TTS), key # hangs up.
#![allow(clippy::unwrap_used)]

#[path = "../../hil-tests/tests/bot_support/mod.rs"]
mod bot_support;

use std::time::{Duration, Instant};

use bot_support::{Bot, BotSetup, RING, flag_backend, q, write_config};
use hil_tests::{Rig, SimConfig};
use modem_sim::audio::ReceivedAudio;

const CALLER: &str = "+491761234567";

/// A one-second WAV of `hz` at 16 kHz (converted by the bot to the call's 8 kHz).
fn tone(path: &std::path::Path, hz: f32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for n in 0..16000 {
        let t = n as f32 / 16000.0;
        w.write_sample((12000.0 * (t * hz * std::f32::consts::TAU).sin()) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}

fn wait<T>(what: &str, within: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < end, "waited {within:?} for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn received(rig: &Rig) -> Option<ReceivedAudio> {
    Some(rig.sim().ok()?.state().ok()?.audio?.received)
}

#[test]
fn key_1_plays_its_file_key_2_speaks_and_hash_hangs_up() {
    let audio_dir = tempfile::tempdir().unwrap();
    let rig = Rig::simulated(SimConfig {
        ring_interval: RING,
        audio_link: Some(audio_dir.path().join("ttyUSB4")),
        ..SimConfig::default()
    })
    .unwrap();
    let sim = rig.sim().unwrap();
    let audio_port = sim.audio_link().unwrap().to_path_buf();
    let hours = rig.dir().join("hours.wav");
    tone(&hours, 880.0);
    let files = write_config(
        &rig,
        &BotSetup {
            answer_after_rings: 1,
            bot: String::new(),
            handoff: flag_backend(&rig),
        },
    );
    let mut text = std::fs::read_to_string(&files.config).unwrap();
    text.push_str(&format!(
        "\n[audio]\nenabled = true\nport = {}\n\n[dtmf]\n\
         \"1\" = {{ action = \"play\", file = {} }}\n\
         \"2\" = {{ action = \"speak\", text = \"We are open from nine to five.\" }}\n\
         \"#\" = {{ action = \"hangup\" }}\n",
        q(&audio_port),
        q(&hours)
    ));
    std::fs::write(&files.config, text).unwrap();
    let mut bot = Bot::start(&files);
    sim.call(CALLER, false, None).unwrap();
    bot.wait_status("the answer", Duration::from_secs(15), |s| {
        s["current_call"]["state"] == "active"
    });
    // The keys only make sound once the call's audio runs (AT+CPCMREG=1 accepted).
    wait("the call's audio", Duration::from_secs(10), || {
        rig.sim().ok()?.state().ok()?.audio?.active.then_some(())
    });
    assert_eq!(received(&rig).unwrap().audible_frames, 0, "no greeting");

    sim.dtmf("1").unwrap();
    let heard = wait("key 1's file at the modem", Duration::from_secs(10), || {
        received(&rig).filter(|r| r.audible_frames >= 48)
    });
    assert_eq!(heard.dominant_hz, Some(880.0), "{heard:?}");
    std::thread::sleep(Duration::from_millis(300));
    let after_file = received(&rig).unwrap().audible_frames;
    assert!(
        (48..=53).contains(&after_file),
        "{after_file} frames of a 1 s file"
    );

    sim.dtmf("2").unwrap();
    let spoken = wait(
        "key 2's speech at the modem",
        Duration::from_secs(20),
        || received(&rig).filter(|r| r.audible_frames >= after_file + 25),
    );
    assert_ne!(spoken.last_dominant_hz, Some(880.0), "{spoken:?}");

    sim.dtmf("#").unwrap();
    let calls = bot.wait_calls(1, Duration::from_secs(10));
    assert_eq!(calls[0]["end"], "we_hung_up", "{:?}", calls[0]);
    let log = bot.log_text();
    assert!(!log.contains("has no audio"), "{log}");
    bot.stop_with(nix::sys::signal::Signal::SIGTERM, Duration::from_secs(15));
}
