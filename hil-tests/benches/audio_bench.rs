//! The audio benchmark of issue 9: one call of `AUDIO_BENCH_SECONDS` (default 60) against
//! the simulator's audio port, run as the bot runs it (CallAudio with a greeting), and
//! the figures printed: answer -> first greeting frame latency, and frame pacing (p50,
//! p99, jitter) both where the writer wrote and where the modem received. A benchmark,
//! not a test (`cargo bench -p hil-tests --bench audio_bench`, or `tools/bench audio`): it
//! prints its figures, and stops with an error only when the pacer plainly drifts,
//! bursts or stalls, or the greeting does not arrive as 440 Hz.
#![allow(clippy::unwrap_used)]

#[path = "../tests/scenarios/support/audio.rs"]
mod audio_support;

use std::time::{Duration, Instant};

use audio_support::{answered_call, write_sine_wav};
use host_linux::audio::{AudioConfig, CallAudio};

/// How long the benchmark call lasts unless `AUDIO_BENCH_SECONDS` says otherwise.
const DEFAULT_SECONDS: u64 = 60;

fn main() {
    let seconds: u64 = match std::env::var("AUDIO_BENCH_SECONDS") {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("AUDIO_BENCH_SECONDS={s:?} is not a number of seconds")),
        Err(_) => DEFAULT_SECONDS,
    };
    assert!(seconds >= 2, "AUDIO_BENCH_SECONDS must be at least 2");
    let dir = tempfile::tempdir().unwrap();
    let greeting = dir.path().join("greeting.wav");
    write_sine_wav(&greeting, 16000, 1, 440.0, 1.0);
    let plan = AudioConfig {
        enabled: true,
        port: dir.path().join("ttyUSB4"),
        greeting: Some(greeting),
        ..AudioConfig::default()
    }
    .prepare()
    .unwrap();
    let call = answered_call(dir);
    let audio = CallAudio::open(&plan, "+491761234567").unwrap();
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let elapsed = start.elapsed();
    let state = call.sim.state().unwrap().audio.unwrap();
    let summary = audio.close().unwrap();
    let rx = state.received;
    let spacing = rx.spacing.unwrap();
    let timing = summary.writer.timing;
    let first = Duration::from_millis(rx.first_audible_ms.unwrap());
    println!(
        "audio bench, {seconds} s call: answer -> first greeting frame {:?} \
         (of which VOICE CALL: BEGIN -> AT+CPCMREG=1 OK {:?}); \
         frames written {} (skipped {}), received {} ({} ms); \
         pacing at the modem: p50 {:.2} ms, p99 {:.2} ms, min {:.2} ms, max {:.2} ms, jitter (sd) {:.2} ms; \
         writer lateness p50 {:?}, p99 {:?}, max {:?}; spacing at the writer p50 {:?}, p99 {:?}",
        call.answer_to_audio + first,
        call.answer_to_audio,
        timing.frames,
        timing.skipped,
        rx.frames,
        rx.duration_ms,
        spacing.p50_ms,
        spacing.p99_ms,
        spacing.min_ms,
        spacing.max_ms,
        spacing.jitter_ms,
        timing.lateness_p50,
        timing.lateness_p99,
        timing.lateness_max,
        timing.spacing_p50,
        timing.spacing_p99,
    );
    // No drift: the frames received cover the time the call lasted, within 3 frames.
    let expected = elapsed.as_millis() as i64 / 20;
    assert!(
        (rx.frames as i64 - expected).abs() <= 3,
        "{} frames received in {elapsed:?}: drift",
        rx.frames
    );
    assert_eq!(timing.skipped, 0, "the writer never fell 100 ms behind");
    assert!((19.5..=20.5).contains(&spacing.mean_ms), "{spacing:?}");
    assert!(spacing.p99_ms < 40.0, "{spacing:?}");
    assert!(
        first < Duration::from_millis(500),
        "greeting late: {first:?}"
    );
    assert_eq!(rx.dominant_hz, Some(440.0));
}
