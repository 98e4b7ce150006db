//! The voice bot's stop: SIGTERM wakes an idle bot (its loop asleep until its next
//! deadline), which hands the port back, then exits 0; a bot whose modem is gone for good
//! ends the process as soon as the port is back. The scenarios print how long each step
//! took and hold the order: the signal, the port given back, the process's end.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use hil_tests::Rig;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::bot::{Bot, BotSetup, flag_backend, rig, smstools_flag, write_config};

/// A running bot with `bot` in its `[bot]` table, and the stand-in smstools' flag (there
/// while smstools runs).
fn running_bot(rig: &Rig, bot: &str) -> (Bot, PathBuf) {
    let setup = BotSetup {
        answer_after_rings: 2,
        bot: bot.into(),
        handoff: flag_backend(rig),
    };
    let files = write_config(rig, &setup);
    let bot = Bot::start(&files);
    let flag = smstools_flag(rig);
    assert!(!flag.exists(), "the stand-in smstools was stopped");
    (bot, flag)
}

/// How the bot ended, looked at every 2 ms from `from` on (at most 20 s): when the port
/// went back (smstools started), when the process ended, and its status.
struct End {
    back: Duration,
    exited: Duration,
    status: ExitStatus,
    log: String,
}

fn watch_the_end(bot: &mut Bot, flag: &Path, from: Instant) -> End {
    let mut back = None;
    let status = loop {
        if back.is_none() && flag.exists() {
            back = Some(from.elapsed());
        }
        if let Some(status) = bot.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            from.elapsed() < Duration::from_secs(20),
            "no end within 20 s; log:\n{}",
            bot.log_text()
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    let exited = from.elapsed();
    let log = bot.log_text();
    // The flag is looked at before the exit, so a port given back is seen by now.
    let back = back
        .or_else(|| flag.exists().then_some(exited))
        .unwrap_or_else(|| panic!("the port was not handed back; log:\n{log}"));
    assert!(back <= exited, "the port goes back before the process ends");
    End {
        back,
        exited,
        status,
        log,
    }
}

#[test]
fn sigterm_wakes_the_idle_bot_which_hands_the_port_back_then_exits() {
    let rig = rig();
    let (mut bot, flag) = running_bot(&rig, "");
    // The first look for SMS is done and the loop sleeps until its next deadline.
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    kill(Pid::from_raw(bot.pid), Signal::SIGTERM).unwrap();
    let end = watch_the_end(&mut bot, &flag, sent);
    let log = &end.log;
    assert_eq!(end.status.code(), Some(0), "{log}");
    eprintln!(
        "SIGTERM -> port handed back in {} ms, process exit in {} ms",
        end.back.as_millis(),
        end.exited.as_millis()
    );
    // In the log: the signal, then the loop's stop, then the port given back.
    let at = |needle: &str| {
        log.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in the log:\n{log}"))
    };
    let received = at("SIGTERM received");
    let stopping = at("the bot gives the port back");
    let given_back = at("port given back");
    assert!(received < given_back && stopping < given_back, "{log}");
}

#[test]
fn a_bot_whose_modem_is_gone_for_good_ends_as_soon_as_the_port_is_back() {
    let rig = rig();
    let (mut bot, flag) = running_bot(&rig, "reopen_timeout_s = 1");
    rig.sim().unwrap().unplug().unwrap();
    let end = watch_the_end(&mut bot, &flag, Instant::now());
    assert_eq!(end.status.code(), Some(5), "{}", end.log);
    eprintln!(
        "modem gone: port handed back {} ms after the unplug, process exit {} ms after that",
        end.back.as_millis(),
        (end.exited - end.back).as_millis()
    );
}
