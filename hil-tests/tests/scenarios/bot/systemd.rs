//! The voice bot under systemd's `Type=notify` and `WatchdogSec=` (issue 6): `READY=1`
//! only once the modem is initialised, `WATCHDOG=1` keep-alives while the modem answers
//! (and none while it does not), `STOPPING=1` on the way out. The notify socket is a
//! datagram socket in the rig, as systemd's is.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use crate::support::bot::{Bot, BotSetup, flag_backend, rig, write_config};
use nix::sys::signal::Signal;

/// Every message that arrives within `d`.
fn messages_for(socket: &UnixDatagram, d: Duration) -> Vec<String> {
    let end = Instant::now() + d;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return got;
        }
        socket.set_read_timeout(Some(left)).unwrap();
        match socket.recv(&mut buf) {
            Ok(n) => got.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return got;
            }
            Err(e) => panic!("notify socket: {e}"),
        }
    }
}

fn keep_alives(messages: &[String]) -> usize {
    messages
        .iter()
        .filter(|m| m.lines().any(|l| l == "WATCHDOG=1"))
        .count()
}

#[test]
fn ready_after_init_keep_alives_while_the_modem_answers_and_stopping_at_the_end() {
    let rig = rig();
    let setup = BotSetup {
        answer_after_rings: 3,
        bot: "health_failures = 5\nreopen_timeout_s = 30".into(),
        handoff: flag_backend(&rig),
    };
    let files = write_config(&rig, &setup);
    let socket_path = rig.dir().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    // WatchdogSec=3: the bot checks the modem at least every second.
    let bot = Bot::start_under_systemd(&files, &socket_path, Duration::from_secs(3));
    let first = messages_for(&socket, Duration::from_millis(3500));
    let ready = first
        .iter()
        .position(|m| m.lines().any(|l| l == "READY=1"))
        .unwrap_or_else(|| panic!("no READY=1 in {first:?}"));
    assert!(
        first[ready]
            .lines()
            .any(|l| l.starts_with("STATUS=holding ")),
        "{first:?}"
    );
    assert!(
        !first[..ready].iter().any(|m| m.contains("WATCHDOG=1")),
        "no keep-alive before READY: {first:?}"
    );
    assert!(
        keep_alives(&first) >= 3,
        "keep-alives every second: {first:?}"
    );

    // The modem falls silent: the keep-alives stop (systemd would kill a bot that hangs).
    rig.sim().unwrap().stall(Duration::from_secs(4)).unwrap();
    messages_for(&socket, Duration::from_millis(300));
    let silent = messages_for(&socket, Duration::from_secs(2));
    assert_eq!(keep_alives(&silent), 0, "{silent:?}");

    let status = bot.stop_with(Signal::SIGTERM, Duration::from_secs(20));
    assert_eq!(status.code(), Some(0));
    let last = messages_for(&socket, Duration::from_millis(200));
    let all: Vec<String> = silent.into_iter().chain(last).collect();
    assert!(
        all.iter().any(|m| m.lines().any(|l| l == "STOPPING=1")),
        "{all:?}"
    );
}
