//! The simulated audio port (`--audio-link`): a host that answers a call and sends
//! AT+CPCMREG=1 hears the caller's tone at real-time pace, and what it plays shows up in
//! `state` with its duration, frame spacing and dominant frequency.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Port, started};
use modem_sim::SimConfig;
use modem_sim::audio::dominant_frequency;

fn samples(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

fn tone_frame(hz: f64, rate: u32, frame: usize, n: usize) -> Vec<u8> {
    (frame * n..(frame + 1) * n)
        .flat_map(|i| {
            let v = 12000.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin();
            (v as i16).to_le_bytes()
        })
        .collect()
}

/// A simulator with an audio port, an answered call, and the audio port opened.
fn in_call(dir: &Path) -> (modem_sim::SimHandle, Port, Port) {
    let link = dir.join("ttyUSB4");
    let (sim, mut at) = started(SimConfig {
        audio_link: Some(link.clone()),
        ..SimConfig::default()
    });
    let audio = Port::open(&link);
    sim.call("+491761234567", false, Some(Duration::from_secs(10)))
        .unwrap();
    at.expect("RING\r\n");
    assert_eq!(at.at("ATA"), "\r\nOK\r\n");
    at.expect("VOICE CALL: BEGIN\r\n");
    // The SIM7600 takes AT+CPCMREG=1 only 100 ms after the call connected.
    std::thread::sleep(Duration::from_millis(100));
    (sim, at, audio)
}

#[test]
fn the_caller_tone_arrives_at_real_time_pace_only_after_cpcmreg_1() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, mut at, mut audio) = in_call(dir.path());
    sim.tone(1000).unwrap();
    assert!(
        audio.read_bytes_for(Duration::from_millis(200)).is_empty(),
        "no audio before AT+CPCMREG=1"
    );
    assert_eq!(at.at("AT+CPCMREG=1"), "\r\nOK\r\n");
    let t0 = Instant::now();
    let heard = audio.read_bytes_for(Duration::from_millis(1000));
    let elapsed = t0.elapsed();
    // One 320-byte frame every 20 ms: about 50 in a second (a loaded machine reads late,
    // never more than real time allows).
    let frames = heard.len() / 320;
    let most = (elapsed.as_millis() / 20 + 2) as usize;
    assert!(
        (40..=most).contains(&frames),
        "{frames} frames in {elapsed:?}"
    );
    assert_eq!(heard.len() % 2, 0);
    assert_eq!(dominant_frequency(&samples(&heard), 8000), Some(1000.0));
    let state = sim.state().unwrap().audio.unwrap();
    assert!(state.active);
    assert_eq!(state.rate, 8000);
    assert_eq!(state.caller_sound, "tone 1000 Hz");
    // AT+CPCMREG=0 stops it.
    assert_eq!(at.at("AT+CPCMREG=0"), "\r\nOK\r\n");
    audio.read_bytes_for(Duration::from_millis(60));
    assert!(audio.read_bytes_for(Duration::from_millis(200)).is_empty());
    assert!(!sim.state().unwrap().audio.unwrap().active);
}

#[test]
fn what_the_host_plays_is_reported_with_duration_spacing_and_frequency() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, mut at, mut audio) = in_call(dir.path());
    assert_eq!(at.at("AT+CPCMREG=1"), "\r\nOK\r\n");
    // One second of 440 Hz, one frame every 20 ms on absolute deadlines.
    let start = Instant::now();
    for f in 0..50 {
        let due = start + Duration::from_millis(20 * f as u64);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        audio.send_bytes(&tone_frame(440.0, 8000, f, 160));
    }
    std::thread::sleep(Duration::from_millis(100));
    let rx = sim.state().unwrap().audio.unwrap().received;
    assert_eq!(rx.frames, 50);
    assert_eq!(rx.duration_ms, 1000);
    assert_eq!(rx.audible_frames, 50);
    assert_eq!(rx.dominant_hz, Some(440.0));
    let spacing = rx.spacing.unwrap();
    assert!(
        (18.0..=22.0).contains(&spacing.mean_ms),
        "mean spacing {spacing:?}"
    );
    // The caller hangs up: audio stops, the figures stay for the test to read.
    sim.hangup().unwrap();
    at.expect("NO CARRIER\r\n");
    let state = sim.state().unwrap().audio.unwrap();
    assert!(!state.active);
    assert_eq!(state.received.frames, 50);
}

#[test]
fn wideband_after_cpcmfrm_1_sends_640_byte_frames() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, mut at, mut audio) = in_call(dir.path());
    sim.tone(440).unwrap();
    assert_eq!(at.at("AT+CPCMFRM=1"), "\r\nOK\r\n");
    assert_eq!(at.at("AT+CPCMREG=1"), "\r\nOK\r\n");
    let heard = audio.read_bytes_for(Duration::from_millis(500));
    assert!(heard.len() >= 20 * 640, "{} bytes", heard.len());
    assert_eq!(dominant_frequency(&samples(&heard), 16000), Some(440.0));
    assert_eq!(sim.state().unwrap().audio.unwrap().rate, 16000);
}

#[test]
fn a_wav_file_as_caller_audio_and_a_text_file_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, mut at, mut audio) = in_call(dir.path());
    let wav = dir.path().join("caller.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&wav, spec).unwrap();
    for f in 0..25 {
        for s in samples(&tone_frame(700.0, 16000, f, 320)) {
            w.write_sample(s).unwrap();
        }
    }
    w.finalize().unwrap();
    sim.audio_file(&wav).unwrap();
    assert_eq!(at.at("AT+CPCMREG=1"), "\r\nOK\r\n");
    let heard = samples(&audio.read_bytes_for(Duration::from_millis(900)));
    assert!(heard.len() >= 4000, "{} samples", heard.len());
    assert_eq!(dominant_frequency(&heard[..4000], 8000), Some(700.0));
    assert!(
        heard[4100..].iter().all(|&s| s == 0),
        "silence after the file"
    );
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    let err = sim.audio_file(&text).unwrap_err().to_string();
    assert!(err.contains("notes.txt is not a WAV audio file"), "{err}");
}

#[test]
fn without_audio_link_the_audio_commands_are_refused() {
    let (sim, _at) = common::fresh();
    let err = sim.tone(440).unwrap_err().to_string();
    assert!(err.contains("--audio-link"), "{err}");
    assert!(sim.state().unwrap().audio.is_none());
}

#[test]
fn cpcmreg_1_right_after_the_call_connects_is_refused_and_accepted_100_ms_later() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttyUSB4");
    let (sim, mut at) = started(SimConfig {
        audio_link: Some(link),
        ..SimConfig::default()
    });
    assert_eq!(at.at("AT+CMEE=1"), "\r\nOK\r\n");
    sim.call("+491761234567", false, Some(Duration::from_secs(10)))
        .unwrap();
    at.expect("RING\r\n");
    assert_eq!(at.at("ATA"), "\r\nOK\r\n");
    at.expect("VOICE CALL: BEGIN\r\n");
    assert_eq!(at.at("AT+CPCMREG=1"), "\r\n+CME ERROR: 3\r\n");
    assert!(!sim.state().unwrap().modem.settings.pcm_audio);
    std::thread::sleep(Duration::from_millis(110));
    assert_eq!(at.at("AT+CPCMREG=1"), "\r\nOK\r\n");
    assert!(sim.state().unwrap().audio.unwrap().active);
}

#[test]
fn unplugging_takes_the_audio_port_away_and_plugging_brings_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, mut at, mut audio) = in_call(dir.path());
    let link = dir.path().join("ttyUSB4");
    assert_eq!(at.at("AT+CPCMREG=1"), "\r\nOK\r\n");
    sim.unplug().unwrap();
    assert!(audio.read_error_within(Duration::from_secs(2)).is_some());
    assert!(!link.exists(), "the audio link goes with the cable");
    let state = sim.state().unwrap().audio.unwrap();
    assert!(!state.active);
    assert_eq!(state.port, None);
    sim.plug().unwrap();
    assert!(link.exists());
    assert!(sim.state().unwrap().audio.unwrap().port.is_some());
}
