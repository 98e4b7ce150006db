//! A modem that comes late (a HAT powered after boot): the voice bot started before the
//! modem's port exists waits for it, logged once, without touching smstools, and takes it
//! once it appears.

use crate::support::bot;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::bot::{Bot, BotSetup, START_WITHIN, q, rig, write_config};
use nix::sys::signal::Signal;

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// A rig whose modem is unplugged: its port is gone.
fn rig_without_its_modem() -> hil_tests::Rig {
    let rig = rig();
    let port = rig.port().to_path_buf();
    assert!(!rig.modem().unplug().unwrap().is_skipped());
    hil_tests::wait::wait_for("the port to vanish", Duration::from_secs(5), || {
        (!port.exists()).then_some(())
    })
    .unwrap();
    rig
}

/// A bot without the spool, with a stand-in smstools, waiting `wait_for_port_s` for its port.
fn waiting_setup(rig: &hil_tests::Rig, wait_for_port_s: u32) -> BotSetup {
    BotSetup {
        answer_after_rings: 2,
        bot: format!("spool = false\nwait_for_port_s = {wait_for_port_s}"),
        handoff: bot::flag_backend(rig),
    }
}

#[test]
fn a_bot_started_before_the_port_exists_takes_it_once_it_appears_smsd_untouched_until_then() {
    // Boot without the modem: no port, smstools started anyway (it retries the device).
    let mut rig = rig_without_its_modem();
    let port = rig.port().to_path_buf();
    let scripts = rig.smsd().unwrap().scripts().clone();
    rig.smsd().unwrap().start_with_script().unwrap();
    let smsd_pid = rig.smsd().unwrap().pid().unwrap();

    // Every call of the backend is logged with its time (ms since the epoch).
    let calls = rig.dir().join("backend-calls.log");
    let logged = rig.dir().join("logged");
    std::fs::write(
        &logged,
        format!(
            "#!/bin/sh\necho \"$1 $(( $(date +%s%N) / 1000000 ))\" >> {}\nshift\nexec \"$@\"\n",
            q(&calls).replace('"', "'")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&logged, std::fs::Permissions::from_mode(0o755)).unwrap();
    let call =
        |verb: &str, script: &std::path::Path| format!("{}, \"{verb}\", {}", q(&logged), q(script));
    let setup = BotSetup {
        answer_after_rings: 2,
        bot: "spool = false\nwait_for_port_s = 60".into(),
        handoff: format!(
            "[handoff]\nbackend = \"commands\"\nstop = [{}]\nstart = [{}]\nstatus = [{}]\n",
            call("stop", &scripts.stop),
            call("start", &scripts.start),
            call("status", &scripts.status)
        ),
    };
    let files = write_config(&rig, &setup);

    let mut bot = Bot::spawn(&files);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        bot.child.try_wait().unwrap().is_none(),
        "the bot gave up waiting; log:\n{}",
        bot.log_text()
    );
    assert!(
        !calls.exists(),
        "smstools was touched while the port was absent: {}",
        std::fs::read_to_string(&calls).unwrap()
    );
    assert_eq!(
        rig.smsd().unwrap().pid(),
        Some(smsd_pid),
        "smsd was touched"
    );
    let log = bot.log_text();
    assert_eq!(
        log.matches("does not exist (yet): waiting").count(),
        1,
        "the wait is logged once:\n{log}"
    );

    // The modem appears.
    let plugged_at = now_ms();
    let plugged = Instant::now();
    assert!(!rig.modem().plug().unwrap().is_skipped());
    bot.wait_phase("running", START_WITHIN);
    println!(
        "port appeared -> bot running: {} ms",
        plugged.elapsed().as_millis()
    );
    assert_eq!(hil_tests::wait::holders_of(&port), vec![bot.pid]);
    assert!(rig.smsd().unwrap().pid().is_none(), "smsd still runs");
    let first_call: u128 = std::fs::read_to_string(&calls)
        .unwrap()
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        first_call >= plugged_at,
        "smstools was asked {} ms before the port appeared",
        plugged_at - first_call
    );
    assert!(
        bot.log_text().contains("appeared after"),
        "{}",
        bot.log_text()
    );

    // And gives it back as usual.
    let status = bot.stop_with(Signal::SIGTERM, Duration::from_secs(30));
    assert_eq!(status.code(), Some(0));
    assert!(rig.smsd().unwrap().pid().is_some(), "smsd not restarted");
}

#[test]
fn a_bot_whose_port_never_comes_exits_6_without_touching_smstools() {
    let rig = rig_without_its_modem();
    let setup = waiting_setup(&rig, 1);
    let files = write_config(&rig, &setup);

    let bot = Bot::spawn(&files);
    let status = bot.wait_exit(Duration::from_secs(20));

    assert_eq!(status.code(), Some(6));
    // The stand-in smstools still "runs": nobody stopped it.
    assert!(bot::smstools_flag(&rig).exists());
}

#[test]
fn while_it_waits_the_bot_extends_its_start_and_a_sigterm_ends_it_at_once() {
    use std::os::unix::net::UnixDatagram;
    let rig = rig_without_its_modem();
    let setup = waiting_setup(&rig, 0);
    let files = write_config(&rig, &setup);
    let socket_path = rig.dir().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();

    let bot = Bot::spawn_with(
        &files,
        &[("NOTIFY_SOCKET", socket_path.display().to_string())],
    );
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end
        && !got
            .iter()
            .any(|m: &String| m.contains("EXTEND_TIMEOUT_USEC"))
    {
        if let Ok(n) = socket.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    assert!(
        got.iter().any(|m| m.contains("STATUS=waiting for")),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|m| m.lines().any(|l| l == "EXTEND_TIMEOUT_USEC=90000000")),
        "{got:?}"
    );

    let asked = Instant::now();
    let status = bot.stop_with(Signal::SIGTERM, Duration::from_secs(5));
    println!(
        "SIGTERM while waiting -> exit in {} ms",
        asked.elapsed().as_millis()
    );
    assert_eq!(status.code(), Some(0));
    assert!(asked.elapsed() < Duration::from_secs(1));
    assert!(bot::smstools_flag(&rig).exists(), "smstools was touched");
}
