//! Two modems on one host: two simulators (two IMEIs), one real smsd serving both
//! (`devices = GSM1, GSM2`), and two bots, each with its own config (its own port, marker
//! folder, queue, call log, API) and the suspend-file backend naming its own smsd device.
//! Each bot takes only its modem, smsd keeps the other, and SMS flow on both, in both
//! directions; stopped, the bots give each modem back to smsd.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::bot::{Bot, BotFiles, BotSetup, RING, free_port, q, rig, write_config};
use hil_tests::wait::{holders_of, wait_for, wait_until_port_held};
use modem_sim::{Identity, SimConfig, Simulator};
use nix::sys::signal::Signal;

const WITHIN: Duration = Duration::from_secs(30);
const IMEI_2: &str = "351602000330588";

fn suspend_backend(suspend: &Path, pid: &Path, device: &str) -> String {
    format!(
        "[handoff]\nbackend = \"suspend-file\"\nsuspend_file = {}\nsmsd_pid_file = {}\ndevice = \"{device}\"\n",
        q(suspend),
        q(pid)
    )
}

/// The files of every device in incoming/ (smsd names them `<device>.<random>`).
fn incoming_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| {
        p.file_name()
            .is_some_and(|n| !n.to_string_lossy().ends_with(".LOCK"))
    });
    files.sort();
    files
}

/// Waits until incoming/ has a file of `device` whose text is `text`.
fn wait_incoming(dir: &Path, device: &str, text: &str) -> PathBuf {
    wait_for(
        format!("{device}: {text:?} in {}", dir.display()),
        WITHIN,
        || {
            incoming_files(dir).into_iter().find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{device}.")))
                    && hil_tests::SpoolFile::read(p).is_ok_and(|f| f.text == text)
            })
        },
    )
    .unwrap_or_else(|e| {
        let log = std::fs::read_to_string(dir.join("../smsd.log")).unwrap_or_default();
        let tail: Vec<&str> = log
            .lines()
            .rev()
            .filter(|l| !l.contains("Command is sent"))
            .take(60)
            .collect();
        panic!(
            "{e}; files {:?}; smsd log (last lines, newest first):\n{}",
            incoming_files(dir),
            tail.join("\n")
        )
    })
}

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(two_bots_take_only_their_modems_and_smsd_keeps_the_other,);

fn two_bots_take_only_their_modems_and_smsd_keeps_the_other() {
    let mut rig = rig();
    let port_1 = rig.port().to_path_buf();
    let port_2 = rig.dir().join("dev2/ttyUSB2");
    let sim_2 = Simulator::start(SimConfig {
        identity: Identity {
            imei: IMEI_2.into(),
            ..Identity::default()
        },
        ring_interval: RING,
        // The second modem speaks the way the scenario's profile says, as the rig's does.
        behaviour: hil_tests::profile::current().unwrap().behaviour(),
        link: Some(port_2.clone()),
        control: Some(rig.dir().join("sim2.sock")),
        record: Some(rig.dir().join("transcript2.log")),
        ..SimConfig::default()
    })
    .unwrap();
    rig.smsd().unwrap().add_device("GSM2", &port_2).unwrap();
    let smsd = rig.start_smsd().unwrap();
    let (suspend, pid_file, incoming) = (smsd.suspend_file(), smsd.pid_file(), smsd.incoming());
    let smsd_on_2 = wait_until_port_held(&port_2, WITHIN).unwrap();

    // Bot 1: the rig's usual files, device GSM1.
    let files_1 = write_config(
        &rig,
        &BotSetup {
            answer_after_rings: 2,
            bot: String::new(),
            handoff: suspend_backend(&suspend, &pid_file, "GSM1"),
        },
    );
    let config_1 = std::fs::read_to_string(&files_1.config).unwrap();
    // Bot 2: everything of its own.
    let api_2 = free_port();
    let config_2 = config_1
        .replace(&q(&port_1), &q(&port_2))
        .replace("run-sim7600", "run-sim7600-2")
        .replace("state/", "state-2/")
        .replace("device = \"GSM1\"", "device = \"GSM2\"")
        .replace(
            &format!("127.0.0.1:{}", files_1.api_port),
            &format!("127.0.0.1:{api_2}"),
        );
    let files_2 = BotFiles {
        config: rig.dir().join("voice-bot-2.toml"),
        api_port: api_2,
        call_log: rig.dir().join("state-2/calls.jsonl"),
        queue: rig.dir().join("state-2/sms-queue"),
        dir: rig.dir().to_path_buf(),
    };
    std::fs::write(&files_2.config, &config_2).unwrap();

    let mut bot_1 = Bot::start(&files_1);
    assert_eq!(holders_of(&port_1), vec![bot_1.pid]);
    // smsd still serves modem 2: an SMS there lands in incoming/ as GSM2's.
    assert_eq!(holders_of(&port_2), smsd_on_2, "smsd keeps GSM2");
    sim_2.sms("+31641600986", "to modem two, smsd").unwrap();
    wait_incoming(&incoming, "GSM2", "to modem two, smsd");

    let mut bot_2 = Bot::start(&files_2);
    assert_eq!(holders_of(&port_2), vec![bot_2.pid]);
    assert_eq!(holders_of(&port_1), vec![bot_1.pid]);
    let suspended = std::fs::read_to_string(&suspend).unwrap();
    assert!(
        suspended.contains("GSM1:") && suspended.contains("GSM2:"),
        "{suspended}"
    );

    // SMS out through each bot's API, each through its own modem.
    let (code, body) = bot_1.post_sms("+491721111111", "from bot one");
    assert_eq!(code, 202, "{body}");
    bot_1.wait_sms(body["id"].as_str().unwrap(), "sent", WITHIN);
    let (code, body) = bot_2.post_sms("+491722222222", "from bot two");
    assert_eq!(code, 202, "{body}");
    bot_2.wait_sms(body["id"].as_str().unwrap(), "sent", WITHIN);
    let sent_1 = rig.modem().state().unwrap().modem.sent;
    let sent_2 = sim_2.state().unwrap().modem.sent;
    assert_eq!(sent_1.len(), 1, "{sent_1:?}");
    assert_eq!(sent_1[0].text, "from bot one");
    assert_eq!(sent_2.len(), 1, "{sent_2:?}");
    assert_eq!(sent_2[0].text, "from bot two");

    // SMS in on each modem, each written by its bot under its smsd device's name.
    rig.sim()
        .unwrap()
        .sms("+31641600986", "to modem one")
        .unwrap();
    sim_2.sms("+31641600986", "to modem two, bot").unwrap();
    wait_incoming(&incoming, "GSM1", "to modem one");
    wait_incoming(&incoming, "GSM2", "to modem two, bot");

    // Stopped, each bot gives its own modem back; smsd serves both again.
    assert_eq!(bot_2.stop_with(Signal::SIGTERM, WITHIN).code(), Some(0));
    wait_until_port_held(&port_2, WITHIN).unwrap();
    assert_eq!(holders_of(&port_1), vec![bot_1.pid], "bot 1 untouched");
    assert_eq!(bot_1.stop_with(Signal::SIGTERM, WITHIN).code(), Some(0));
    wait_until_port_held(&port_1, WITHIN).unwrap();
    let smsd = rig.smsd().unwrap();
    smsd.queue_sms("after", "491723333333", "smsd again")
        .unwrap();
    smsd.wait_for_sent("after", WITHIN).unwrap();
}
