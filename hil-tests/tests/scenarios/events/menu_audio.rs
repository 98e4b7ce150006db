//! The `[dtmf]` menu with call audio, through the real `sim7600 voice-bot` on the
//! simulator and its audio port: key 1 plays its file into the call (the modem hears its
//! 880 Hz), key 2 speaks a text (espeak-ng, the default TTS), key # hangs up.

use std::time::Duration;

use hil_tests::Rig;
use hil_tests::wait::wait_for;
use modem_sim::audio::ReceivedAudio;

use crate::support::audio::write_sine_wav;
use crate::support::bot::{self, audio_rig, q};

const CALLER: &str = "+491761234567";

fn wait<T>(what: &str, within: Duration, check: impl FnMut() -> Option<T>) -> T {
    wait_for(what, within, check).unwrap()
}

fn received(rig: &Rig) -> Option<ReceivedAudio> {
    Some(rig.sim().ok()?.state().ok()?.audio?.received)
}

// Runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(key_1_plays_its_file_key_2_speaks_and_hash_hangs_up);

fn key_1_plays_its_file_key_2_speaks_and_hash_hangs_up() {
    let (rig, _audio_dir) = audio_rig();
    let sim = rig.sim().unwrap();
    // One second of 880 Hz at 16 kHz (converted by the bot to the call's 8 kHz).
    let hours = rig.dir().join("hours.wav");
    write_sine_wav(&hours, 16000, 1, 880.0, 1.0);
    let mut bot = bot::audio_bot(
        &rig,
        &format!(
            "[dtmf]\n\
             \"1\" = {{ action = \"play\", file = {} }}\n\
             \"2\" = {{ action = \"speak\", text = \"We are open from nine to five.\" }}\n\
             \"#\" = {{ action = \"hangup\" }}\n",
            q(&hours)
        ),
    );
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
    // `last_dominant_hz` looks at the last 1.024 s of sound (modem-sim's ANALYSIS_SAMPLES
    // at 8 kHz): wait for more speech than that, or the file's last tone is in the window
    // and, pure, outweighs the start of the speech.
    let spoken = wait(
        "key 2's speech at the modem",
        Duration::from_secs(20),
        || received(&rig).filter(|r| r.audible_frames >= after_file + 55),
    );
    assert_ne!(spoken.last_dominant_hz, Some(880.0), "{spoken:?}");

    sim.dtmf("#").unwrap();
    let calls = bot.wait_calls(1, Duration::from_secs(10));
    assert_eq!(calls[0]["end"], "we_hung_up", "{:?}", calls[0]);
    let log = bot.log_text();
    assert!(!log.contains("has no audio"), "{log}");
    bot.stop_with(nix::sys::signal::Signal::SIGTERM, Duration::from_secs(15));
}
