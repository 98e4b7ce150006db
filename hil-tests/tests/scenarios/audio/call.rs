//! Call audio end to end against the simulator's audio port: host-linux's audio pieces
//! (the paced writer, the caller reader with its recording and live stream, WAV
//! conversion) on one side, the simulated SIM7600 with `--audio-link` on the other. The
//! test plays the bot's part on the AT port (answer, wait 100 ms, AT+CPCMREG=1) until
//! the bot's event loop does it (docs/audio.md).

use crate::support::audio;

use std::io::Write as _;
use std::time::{Duration, Instant};

use crate::support::audio::{WAIT, answered_call, wait_for, write_sine_wav};
use host_linux::audio::listener::SUBSCRIBER_QUEUE_FRAMES;
use host_linux::audio::session::RecordingsConfig;
use host_linux::audio::{
    AudioConfig, AudioWriter, CallAudio, CallFormat, CallerAudio, RecordingFolder, Retention,
    load_wav,
};
use modem_sim::audio::dominant_frequency;

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(
    a_440_hz_greeting_reaches_the_caller_as_one_second_of_440_hz_with_even_frames,
    a_1_khz_caller_tone_ends_up_in_the_call_recording_and_on_the_live_stream,
    a_call_that_ends_mid_greeting_stops_the_writer_cleanly,
    a_call_with_greeting_speech_and_recording_as_the_bot_will_run_it,
    an_urgent_clip_interrupts_the_greeting_and_the_caller_hears_it_to_its_end,
    bot_audio_retries_cpcmreg_on_a_slow_modem_then_plays_the_greeting_and_stops_at_the_end,
);

fn a_440_hz_greeting_reaches_the_caller_as_one_second_of_440_hz_with_even_frames() {
    let dir = tempfile::tempdir().unwrap();
    let greeting = dir.path().join("greeting.wav");
    // A greeting as people have them: 44.1 kHz stereo, converted on load.
    write_sine_wav(&greeting, 44100, 2, 440.0, 1.0);
    let call = answered_call(dir);
    let clip = load_wav(&greeting, CallFormat::Narrowband).unwrap();
    let writer = AudioWriter::spawn(
        call.audio.try_clone().unwrap(),
        "ttyUSB4",
        CallFormat::Narrowband,
    )
    .unwrap();
    writer.play(clip).unwrap();
    wait_for("the greeting to play to its end", || {
        (writer.status().queue.finished == 1).then_some(())
    });
    // A little silence after it, so the last frames have arrived.
    std::thread::sleep(Duration::from_millis(200));
    let status = writer.finish().unwrap();
    let audio = call.sim.state().unwrap().audio.unwrap();
    let rx = audio.received;
    let heard = Duration::from_millis(rx.audible_frames * 20);
    assert!(
        heard.abs_diff(Duration::from_secs(1)) <= Duration::from_millis(40),
        "{heard:?} of audible audio for a 1 s greeting: {rx:?}"
    );
    assert_eq!(rx.dominant_hz, Some(440.0), "{rx:?}");
    let spacing = rx.spacing.unwrap();
    assert!(
        (19.0..=21.0).contains(&spacing.mean_ms),
        "frames arrive every 20 ms on average: {spacing:?}"
    );
    assert_eq!(status.timing.skipped, 0, "{status:?}");
    let first = rx.first_audible_ms.unwrap();
    println!(
        "greeting: {heard:?} audible, dominant {:?} Hz; answer -> first greeting frame \
         {:?} (100 ms wait and AT+CPCMREG=1 included, {first} ms after audio on); frame \
         spacing at the modem mean {:.2} ms, p50 {:.2} ms, p99 {:.2} ms, jitter (sd) {:.2} ms; \
         writer lateness p50 {:?}, p99 {:?}",
        rx.dominant_hz,
        call.answer_to_audio + Duration::from_millis(first),
        spacing.mean_ms,
        spacing.p50_ms,
        spacing.p99_ms,
        spacing.jitter_ms,
        status.timing.lateness_p50,
        status.timing.lateness_p99,
    );
    drop(call.at);
}

fn a_1_khz_caller_tone_ends_up_in_the_call_recording_and_on_the_live_stream() {
    let dir = tempfile::tempdir().unwrap();
    let recordings = dir.path().join("recordings");
    let call = answered_call(dir);
    call.sim.tone(1000).unwrap();
    let folder = RecordingFolder::new(&recordings, Retention::default()).unwrap();
    let recording = folder
        .start("+491761234567", CallFormat::Narrowband)
        .unwrap();
    let reader = CallerAudio::spawn(
        call.audio.try_clone().unwrap(),
        "ttyUSB4",
        CallFormat::Narrowband,
        Some(recording),
    )
    .unwrap();
    let live = reader.subscribe().unwrap();
    // One second of the live stream, as a speech-to-text program would read it.
    let mut pcm = Vec::new();
    while pcm.len() < 8000 * 2 {
        let frame = live.recv_timeout(WAIT).unwrap();
        assert_eq!(frame.len(), 320);
        pcm.extend_from_slice(&frame);
    }
    let samples: Vec<i16> = pcm
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(dominant_frequency(&samples, 8000), Some(1000.0));
    // The caller hangs up; the bot ends the reader on VOICE CALL: END.
    call.sim.hangup().unwrap();
    let mut at = call.at;
    at.expect("NO CARRIER");
    let summary = reader.finish().unwrap();
    // The stream ends (the loop returns) after at most the frames still queued.
    assert!(live.iter().count() <= SUBSCRIBER_QUEUE_FRAMES);
    let rec = summary.recording.unwrap();
    assert!(rec.frames >= 50, "{rec:?}");
    let file = load_wav(&rec.path, CallFormat::Narrowband).unwrap();
    assert_eq!(file.samples().len() as u64, rec.frames * 160);
    assert_eq!(dominant_frequency(file.samples(), 8000), Some(1000.0));
    assert_eq!(folder.recordings().unwrap().len(), 1);
}

#[test]
fn a_greeting_that_is_not_audio_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("greeting.wav");
    std::fs::write(&notes, "Welcome! (this was meant to be a recording)\n").unwrap();
    let err = load_wav(&notes, CallFormat::Narrowband)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("{} is not a WAV audio file", notes.display())),
        "{err}"
    );
}

fn a_call_that_ends_mid_greeting_stops_the_writer_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let greeting = dir.path().join("long.wav");
    write_sine_wav(&greeting, 8000, 1, 440.0, 5.0);
    let call = answered_call(dir);
    let writer = AudioWriter::spawn(
        call.audio.try_clone().unwrap(),
        "ttyUSB4",
        CallFormat::Narrowband,
    )
    .unwrap();
    writer
        .play(load_wav(&greeting, CallFormat::Narrowband).unwrap())
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    call.sim.hangup().unwrap();
    let mut at = call.at;
    at.expect("NO CARRIER");
    // What the bot does on VOICE CALL: END: stop the queue, end the writer.
    assert_eq!(writer.stop().unwrap(), 1);
    let t = Instant::now();
    let status = writer.finish().unwrap();
    assert!(t.elapsed() < Duration::from_millis(100), "finish is prompt");
    assert_eq!(status.queue.dropped, 1);
    assert_eq!(status.queue.finished, 0);
    let rx = call.sim.state().unwrap().audio.unwrap();
    assert!(!rx.active);
    let heard = rx.received.audible_frames;
    assert!(
        (15..=45).contains(&heard),
        "about half a second of the greeting reached the caller: {heard} frames"
    );
}

fn a_call_with_greeting_speech_and_recording_as_the_bot_will_run_it() {
    let dir = tempfile::tempdir().unwrap();
    let greeting = dir.path().join("greeting.wav");
    write_sine_wav(&greeting, 22050, 1, 440.0, 0.5);
    let config = AudioConfig {
        enabled: true,
        port: dir.path().join("ttyUSB4"),
        greeting: Some(greeting),
        recordings: Some(RecordingsConfig {
            folder: dir.path().join("calls"),
            max_files: 10,
            max_bytes: 10_000_000,
        }),
        ..AudioConfig::default()
    };
    // At the bot's start: settings checked, greeting loaded.
    let plan = config.prepare().unwrap();
    let call = answered_call(dir);
    call.sim.tone(1000).unwrap();
    let audio = CallAudio::open(&plan, "+491761234567").unwrap();
    let live = audio.subscribe().unwrap();
    // espeak-ng (Debian package espeak-ng) speaks an answer, queued after the greeting.
    let speech = plan
        .config
        .tts
        .synthesize("Thank you for calling.", audio.format())
        .unwrap();
    let speech_frames = speech.frame_count() as u64;
    audio.play(speech).unwrap();
    wait_for("greeting and speech to play", || {
        (audio.writer_status().queue.finished == 2).then_some(())
    });
    std::thread::sleep(Duration::from_millis(100));
    let mut pcm = Vec::new();
    while let Ok(frame) = live.try_recv() {
        pcm.extend_from_slice(&frame);
    }
    let samples: Vec<i16> = pcm
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert!(
        samples.len() >= 8000,
        "{} samples on the live stream",
        samples.len()
    );
    assert_eq!(dominant_frequency(&samples, 8000), Some(1000.0));
    let rx = call.sim.state().unwrap().audio.unwrap().received;
    assert_eq!(
        rx.dominant_hz,
        Some(440.0),
        "the greeting comes first: {rx:?}"
    );
    // The greeting's 25 frames, then speech (whose quiet frames between words count
    // as silence at the modem).
    assert!(
        rx.audible_frames >= 25 + speech_frames / 2 && rx.audible_frames <= 25 + speech_frames,
        "{} audible frames for 25 of greeting and {speech_frames} of speech",
        rx.audible_frames
    );
    call.sim.hangup().unwrap();
    let summary = audio.close().unwrap();
    let rec = summary.listener.recording.unwrap();
    let recorded = load_wav(&rec.path, CallFormat::Narrowband).unwrap();
    assert!(recorded.samples().len() >= samples.len());
    assert_eq!(dominant_frequency(recorded.samples(), 8000), Some(1000.0));
    assert_eq!(summary.writer_error, None);
    assert_eq!(summary.writer.queue.finished, 2);
    assert_eq!(summary.writer.timing.skipped, 0);
}

fn an_urgent_clip_interrupts_the_greeting_and_the_caller_hears_it_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let greeting = dir.path().join("greeting.wav");
    let urgent = dir.path().join("urgent.wav");
    write_sine_wav(&greeting, 8000, 1, 440.0, 5.0);
    write_sine_wav(&urgent, 8000, 1, 1000.0, 1.0);
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
    let queued_after = audio
        .play(load_wav(&urgent, CallFormat::Narrowband).unwrap())
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // What "priority": "high" does: cut off the greeting and what waits behind it.
    let id = audio
        .play_interrupt(load_wav(&urgent, CallFormat::Narrowband).unwrap())
        .unwrap();
    assert!(id > queued_after);
    wait_for("the urgent clip to play", || {
        (audio.writer_status().queue.finished == 1).then_some(())
    });
    std::thread::sleep(Duration::from_millis(200));
    let summary = audio.close().unwrap();
    assert_eq!(
        summary.writer.queue.dropped, 2,
        "greeting and queued clip dropped"
    );
    let rx = call.sim.state().unwrap().audio.unwrap().received;
    assert_eq!(rx.dominant_hz, Some(440.0), "{rx:?}");
    assert_eq!(rx.last_dominant_hz, Some(1000.0), "{rx:?}");
    let heard = rx.audible_frames;
    assert!(
        (70..=85).contains(&heard),
        "about 0.5 s of greeting and 1 s of the urgent clip: {heard} frames"
    );
}

fn bot_audio_retries_cpcmreg_on_a_slow_modem_then_plays_the_greeting_and_stops_at_the_end() {
    use host_linux::audio::BotAudio;
    use host_linux::audio::session::AudioConfig as Config;
    use modem_sim::{SimConfig, Simulator};

    let dir = tempfile::tempdir().unwrap();
    let greeting = dir.path().join("greeting.wav");
    write_sine_wav(&greeting, 48000, 2, 440.0, 0.6);
    let audio_link = dir.path().join("ttyUSB4");
    // This modem takes AT+CPCMREG=1 only 250 ms after the call connected.
    let sim = Simulator::start(SimConfig {
        link: Some(dir.path().join("ttyUSB2")),
        audio_link: Some(audio_link.clone()),
        pcm_ready_after: Duration::from_millis(250),
        behaviour: hil_tests::profile::current().unwrap().behaviour(),
        ..SimConfig::default()
    })
    .unwrap();
    let plan = Config {
        enabled: true,
        port: audio_link,
        greeting: Some(greeting),
        ..Config::default()
    }
    .prepare()
    .unwrap();
    let mut bot = BotAudio::new(plan);
    let mut at = audio::AtPort::open(&sim.port());
    at.expect("PB DONE");
    at.command("ATE0");
    sim.call("+491761234567", false, Some(Duration::from_secs(10)))
        .unwrap();
    at.expect("RING");
    at.file.write_all(b"ATA\r").unwrap();
    at.expect_all(&["VOICE CALL: BEGIN", "OK\r\n"]);
    bot.call_answered(Instant::now(), "+491761234567");
    // The bot's loop: sleep to the deadline, send what is due, report the answer.
    let mut sent = Vec::new();
    while let Some(t) = bot.next_deadline() {
        std::thread::sleep(t.saturating_duration_since(Instant::now()));
        if let Some(cmd) = bot.due_command(Instant::now()) {
            let ok = at.try_command(cmd.describe());
            sent.push((cmd.describe(), ok));
            bot.command_answered(ok, Instant::now()).unwrap();
        }
    }
    assert_eq!(
        sent,
        [("AT+CPCMREG=1", false), ("AT+CPCMREG=1", true)],
        "refused at 100 ms, accepted at 300 ms"
    );
    let audio = bot.current().unwrap();
    wait_for("the greeting to play", || {
        (audio.writer_status().queue.finished == 1).then_some(())
    });
    drop(audio);
    std::thread::sleep(Duration::from_millis(100));
    let rx = sim.state().unwrap().audio.unwrap().received;
    assert_eq!(rx.dominant_hz, Some(440.0));
    assert!((28..=32).contains(&rx.audible_frames), "{rx:?}");
    sim.hangup().unwrap();
    at.expect("NO CARRIER");
    let end = bot.call_ended();
    let stop = end.command.unwrap();
    assert_eq!(stop.describe(), "AT+CPCMREG=0");
    assert!(at.try_command(stop.describe()));
    let summary = end.summary.unwrap().unwrap();
    assert_eq!(summary.writer_error, None);
    assert!(!sim.state().unwrap().audio.unwrap().active);
}
