//! Handoffs under a SysV or container init: the `commands` backend runs a start script
//! that starts smsd directly (`smsd -c ... -p ...`, no systemd), so the smsd that comes
//! back after the bot is a daemon started by the bot's script. It must stop on the SIGTERM
//! of the next handoff: three handoffs in a row, each stop of smsd done in under a second.
//! The script is a bash script: bash hands its own signal mask on to what it starts (dash
//! happens to clear it, which would hide a mask inherited from the bot).

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::support::bot::{Bot, BotSetup, q, rig, write_config};
use nix::sys::signal::Signal;

/// The longest a stop of smsd may take (smsd ends within a few ms of SIGTERM; a blocked
/// SIGTERM would make the rig's stop script wait 20 s and then kill it).
const STOP_WITHIN: Duration = Duration::from_secs(1);

/// The SigBlk mask of a live process, from /proc/PID/status.
fn blocked_signals(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("SigBlk:"))
        .unwrap();
    u64::from_str_radix(hex.trim(), 16).unwrap()
}

#[test]
fn three_handoffs_with_a_sysv_start_script_each_stop_smsd_in_under_a_second() {
    let mut rig = rig();
    let port = rig.port().to_path_buf();
    let scripts = rig.smsd().unwrap().scripts().clone();
    let start = rig.dir().join("smstools-init");
    let smsd = rig.smsd().unwrap();
    // What an init script's start comes down to: smsd daemonizes, its pid file says
    // where it is.
    let sq = |p: &std::path::Path| format!("'{}'", p.display());
    std::fs::write(
        &start,
        format!(
            "#!/bin/bash
# start: as an init script would, smsd directly
{} -c {} -p {} -i {} </dev/null
",
            sq(&hil_tests::smsd::smsd_path()),
            sq(&smsd.conf()),
            sq(&smsd.pid_file()),
            sq(&smsd.info_file()),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&start, std::fs::Permissions::from_mode(0o755)).unwrap();
    rig.smsd().unwrap().start_with_script().unwrap();
    hil_tests::wait::wait_until_port_held(&port, Duration::from_secs(15)).unwrap();

    // The stop goes through a wrapper that records how long the rig's stop script took
    // (SIGTERM to smsd, then wait until it and its modem process are gone), in ms.
    let times = rig.dir().join("stop-times.log");
    let timed_stop = rig.dir().join("timed-stop");
    std::fs::write(
        &timed_stop,
        format!(
            "#!/bin/sh\nstart=$(date +%s%N)\n{stop}\nrc=$?\nend=$(date +%s%N)\n\
             echo $(( (end - start) / 1000000 )) >> {times}\nexit $rc\n",
            stop = q(&scripts.stop).replace('"', "'"),
            times = q(&times).replace('"', "'"),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&timed_stop, std::fs::Permissions::from_mode(0o755)).unwrap();
    let setup = BotSetup {
        answer_after_rings: 2,
        bot: "spool = false".into(),
        handoff: format!(
            "[handoff]\nbackend = \"commands\"\nstop = [{}]\nstart = [{}]\nstatus = [{}]\n",
            q(&timed_stop),
            q(&start),
            q(&scripts.status)
        ),
    };
    let files = write_config(&rig, &setup);

    let term = 1u64 << (Signal::SIGTERM as u64 - 1);
    let mut smsd_pids = vec![rig.smsd().unwrap().pid().unwrap()];
    for round in 1..=3 {
        let bot = Bot::start(&files);
        assert!(
            rig.smsd().unwrap().pid().is_none(),
            "round {round}: smsd still runs"
        );
        assert_eq!(hil_tests::wait::holders_of(&port), vec![bot.pid]);
        let status = bot.stop_with(Signal::SIGTERM, Duration::from_secs(30));
        assert_eq!(status.code(), Some(0), "round {round}");
        // The smsd the bot started: a new process, SIGTERM not blocked.
        let pid = rig.smsd().unwrap().pid().unwrap();
        assert!(
            !smsd_pids.contains(&pid),
            "round {round}: smsd not restarted"
        );
        let blocked = blocked_signals(pid);
        println!("round {round}: smsd {pid} started by the bot, SigBlk {blocked:016x}");
        assert_eq!(
            blocked & term,
            0,
            "smsd {pid} blocks SIGTERM: {blocked:016x}"
        );
        smsd_pids.push(pid);
        hil_tests::wait::wait_until_port_held(&port, Duration::from_secs(15)).unwrap();
    }

    let stops: Vec<u64> = std::fs::read_to_string(&times)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    println!("stops of smsd (ms): {stops:?}");
    assert_eq!(stops.len(), 3, "{stops:?}");
    for (i, ms) in stops.iter().enumerate() {
        assert!(
            Duration::from_millis(*ms) < STOP_WITHIN,
            "stop {} took {ms} ms: {stops:?}",
            i + 1
        );
    }
    // The last smsd, started by the bot, stops on SIGTERM too.
    rig.smsd().unwrap().stop().unwrap();
}
