//! SIGHUP reloads the voice bot: config.toml and voice_config.json are read again, what can
//! change live is applied (a new `answer_after_rings` reaches the modem as `ATS0`), what
//! cannot is named in the log, and the bot keeps running and holding the port. A broken
//! file on reload is logged and the running settings stay.

use crate::support::bot;

use std::time::Duration;

use crate::support::bot::{Bot, BotSetup, flag_backend, host_commands, rig, write_config};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long a reload may take to show in the log and at the modem.
const RELOAD_WITHIN: Duration = Duration::from_secs(10);

fn hangup(bot: &Bot) {
    kill(Pid::from_raw(bot.pid), Signal::SIGHUP).unwrap();
}

/// Waits until the bot's log holds `text` `n` times.
fn wait_log(bot: &Bot, text: &str, n: usize) -> String {
    hil_tests::wait::wait_for(format!("{n} x {text:?} in the log"), RELOAD_WITHIN, || {
        let log = bot.log_text();
        (log.matches(text).count() >= n).then_some(log)
    })
    .unwrap_or_else(|e| panic!("{e}; log:\n{}", bot.log_text()))
}

fn ats0(transcript: &std::path::Path) -> Vec<String> {
    host_commands(transcript)
        .into_iter()
        .filter(|c| c.starts_with("ATS0="))
        .collect()
}

#[test]
fn sighup_applies_a_new_answer_after_rings_and_keeps_a_broken_config_out() {
    let rig = rig();
    let transcript = rig.transcript().unwrap();
    let setup = BotSetup {
        answer_after_rings: 2,
        bot: "spool = false".into(),
        handoff: flag_backend(&rig),
    };
    let files = write_config(&rig, &setup);
    let voice = rig.dir().join("voice_config.json");
    let mut bot = Bot::start(&files);
    assert_eq!(ats0(&transcript), [r"ATS0=2\r"]);

    // A new answer_after_rings, and a key that is read at start only.
    std::fs::write(&voice, r#"{"answer_after_rings": 4}"#).unwrap();
    let config_text = std::fs::read_to_string(&files.config).unwrap();
    std::fs::write(
        &files.config,
        config_text.replacen("[bot]\n", "[bot]\nhealth_interval_s = 7\n", 1),
    )
    .unwrap();
    hangup(&bot);
    hil_tests::wait::wait_for("ATS0=4 at the modem", RELOAD_WITHIN, || {
        (ats0(&transcript).last().map(String::as_str) == Some(r"ATS0=4\r")).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}; log:\n{}", bot.log_text()));
    let log = wait_log(&bot, "reload applied", 1);
    assert!(
        log.contains("restart the bot to apply): bot.health_interval_s"),
        "the key read at start only is not named:\n{log}"
    );
    assert!(
        bot.child.try_wait().unwrap().is_none(),
        "SIGHUP ended the bot"
    );
    bot.wait_phase("running", Duration::from_secs(5));
    assert_eq!(hil_tests::wait::holders_of(rig.port()), vec![bot.pid]);
    assert_eq!(ats0(&transcript), [r"ATS0=2\r", r"ATS0=4\r"]);

    // A broken voice_config.json: refused with the file named; the modem hears nothing.
    std::fs::write(&voice, r#"{"answer_after_rings": "five"}"#).unwrap();
    hangup(&bot);
    let log = wait_log(&bot, "reload refused", 1);
    let line = log
        .lines()
        .find(|l| l.contains("reload refused"))
        .unwrap()
        .to_owned();
    assert!(line.contains("voice_config.json"), "{line}");
    // A broken config.toml: refused naming the key.
    std::fs::write(&voice, r#"{"answer_after_rings": 5}"#).unwrap();
    std::fs::write(
        &files.config,
        config_text.replacen("[bot]\n", "[bot]\nvolume = 9\n", 1),
    )
    .unwrap();
    hangup(&bot);
    let log = wait_log(&bot, "reload refused", 2);
    let line = log
        .lines()
        .filter(|l| l.contains("reload refused"))
        .nth(1)
        .unwrap()
        .to_owned();
    assert!(
        line.contains("voice-bot.toml") && line.contains("volume"),
        "{line}"
    );
    // Nothing of either reached the modem; the bot still serves with ring 4.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(ats0(&transcript), [r"ATS0=2\r", r"ATS0=4\r"]);
    assert!(bot.child.try_wait().unwrap().is_none());
    bot.wait_phase("running", Duration::from_secs(5));

    // SIGTERM still ends it in order.
    let status = bot.stop_with(Signal::SIGTERM, Duration::from_secs(30));
    assert_eq!(status.code(), Some(0));
    assert!(bot::smstools_flag(&rig).exists(), "smstools not back");
}

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(a_reload_during_a_ringing_call_is_applied_once_the_call_has_ended,);

fn a_reload_during_a_ringing_call_is_applied_once_the_call_has_ended() {
    let rig = rig();
    let transcript = rig.transcript().unwrap();
    // 0: the modem never answers, so the call rings until the caller hangs up.
    let setup = BotSetup {
        answer_after_rings: 0,
        bot: "spool = false".into(),
        handoff: flag_backend(&rig),
    };
    let files = write_config(&rig, &setup);
    let voice = rig.dir().join("voice_config.json");
    let mut bot = Bot::start(&files);
    assert_eq!(ats0(&transcript), [r"ATS0=0\r"]);

    assert!(
        !rig.modem()
            .call("+491761234567", false, None)
            .unwrap()
            .is_skipped()
    );
    bot.wait_status("a ringing call", Duration::from_secs(10), |s| {
        s["current_call"]["state"] == "ringing"
    });
    std::fs::write(&voice, r#"{"answer_after_rings": 3}"#).unwrap();
    hangup(&bot);
    wait_log(&bot, "reload: ", 1);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        ats0(&transcript),
        [r"ATS0=0\r"],
        "the reload reached the modem during the call"
    );

    assert!(!rig.modem().hangup().unwrap().is_skipped());
    hil_tests::wait::wait_for("ATS0=3 after the call", RELOAD_WITHIN, || {
        (ats0(&transcript).last().map(String::as_str) == Some(r"ATS0=3\r")).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}; log:\n{}", bot.log_text()));
    wait_log(&bot, "reload applied", 1);
    let status = bot.stop_with(Signal::SIGTERM, Duration::from_secs(30));
    assert_eq!(status.code(), Some(0));
}
