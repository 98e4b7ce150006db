//! Many modems: a modem named by its IMEI (learned by `sim7600 list` from the free port),
//! found in a fake sysfs tree, and brought back by the supervisor through each step: a
//! stall (re-open), a hang that AT+CFUN=1,1 ends (modem reset), and a hang that ignores
//! CFUN and ends only with a USB reset, after which the modem re-enumerates on a new node.
//! The fake tree's `authorized` attribute is a FIFO, so that the test, playing the kernel,
//! sees the 0 and the 1 the bot writes, in order.

use crate::support::bot;
use crate::support::mqtt;

use std::io::Read;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::bot::{Bot, BotSetup, flag_backend, q, rig, write_config};
use hil_tests::Rig;
use nix::sys::signal::Signal;

const USB_PATH: &str = "1-1.2";
const IMEI: &str = "351602000330570";

/// The kernel's view of the simulated modem: `<rig>/sys`, `<rig>/dev/<tty>` linking to
/// the simulator's port link (which follows the simulator's pty).
fn fake_sysfs(rig: &Rig, tty: &str) -> (PathBuf, PathBuf) {
    let sys = rig.dir().join("sys");
    let dev = rig.dir().join("kernel-dev");
    let device = sys.join("bus/usb/devices").join(USB_PATH);
    std::fs::create_dir_all(&device).unwrap();
    std::fs::write(device.join("idVendor"), "1e0e\n").unwrap();
    std::fs::write(device.join("idProduct"), "9001\n").unwrap();
    let authorized = device.join("authorized");
    if !authorized.exists() {
        nix::unistd::mkfifo(&authorized, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    }
    add_at_interface(&sys, &dev, rig.port(), tty);
    (sys, dev)
}

fn add_at_interface(sys: &Path, dev: &Path, port: &Path, tty: &str) {
    let iface = sys.join("bus/usb/devices").join(format!("{USB_PATH}:1.2"));
    let _ = std::fs::remove_dir_all(&iface);
    std::fs::create_dir_all(iface.join(tty)).unwrap();
    std::fs::write(iface.join("bInterfaceNumber"), "02\n").unwrap();
    std::fs::create_dir_all(dev).unwrap();
    let node = dev.join(tty);
    let _ = std::fs::remove_file(&node);
    symlink(port, node).unwrap();
}

/// Reads one write from the FIFO (blocks until the bot opens it, bounded by a thread).
fn read_authorized(fifo: &Path, within: Duration) -> String {
    let fifo = fifo.to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&fifo) {
            let _ = f.read_to_string(&mut text);
        }
        let _ = tx.send(text);
    });
    rx.recv_timeout(within).unwrap_or_else(|_| {
        panic!(
            "the bot wrote nothing to {} within {within:?}",
            "authorized"
        )
    })
}

fn wait_log(bot: &Bot, what: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if bot.log_text().contains(what) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "no {what:?} in the bot's log within {within:?}:\n{}",
        bot.log_text()
    );
}

#[test]
fn a_modem_named_by_imei_comes_back_through_reopen_modem_reset_and_usb_reset() {
    let rig = rig();
    let (sys, dev) = fake_sysfs(&rig, "ttyUSB2");
    let ids = rig.dir().join("modems");
    // Every step is an event: watched on the bot's MQTT topic for modem events.
    let broker = mqtt::Broker::start(rig.dir());
    let events_topic = format!("sim7600/{IMEI}/events/modem");
    let watcher = mqtt::Watcher::connect(&broker, "supervisor-watch", &[&events_topic]);
    let fleet = format!(
        "\n[fleet]\nsysfs_root = {}\ndev_root = {}\nidentity_dir = {}\nreenumerate_timeout_s = 10\n\
         \n[mqtt]\nurl = \"{}\"\ndiscovery = false\n",
        q(&sys),
        q(&dev),
        q(&ids),
        broker.url()
    );
    let files = write_config(
        &rig,
        &BotSetup {
            answer_after_rings: 2,
            bot: "health_interval_s = 1\nhealth_failures = 1\nreopen_timeout_s = 2".into(),
            handoff: flag_backend(&rig),
        },
    );
    // The config names the modem by IMEI, not by port.
    let text = std::fs::read_to_string(&files.config).unwrap();
    let text = text
        .lines()
        .filter(|l| !l.starts_with("port = "))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&files.config, format!("imei = \"{IMEI}\"\n{text}\n{fleet}")).unwrap();

    // Before anyone knows the IMEI, the bot cannot find the modem, and says how to.
    let unknown = Command::new(hil_tests::sim7600_bin().unwrap())
        .args(["--config"])
        .arg(&files.config)
        .arg("voice-bot")
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    let said = String::from_utf8_lossy(&unknown.stderr);
    assert!(said.contains(IMEI) && said.contains("usb_path"), "{said}");

    // `sim7600 list` asks the free port and records what it learned.
    let list = Command::new(hil_tests::sim7600_bin().unwrap())
        .arg("--config")
        .arg(&files.config)
        .args(["list", "--json"])
        .output()
        .unwrap();
    assert!(list.status.success(), "{list:?}");
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let m = &listed["modems"][0];
    assert_eq!(m["usb_path"], USB_PATH, "{listed}");
    assert_eq!(m["vendor"], "1e0e");
    assert_eq!(m["imei"], IMEI, "{listed}");
    assert_eq!(m["imei_source"], "modem");
    assert_eq!(m["ports"][0]["role"], "at");
    assert_eq!(m["ports"][0]["holders"], serde_json::json!([]));

    let mut bot = Bot::start(&files);
    assert_eq!(hil_tests::wait::holders_of(rig.port()), vec![bot.pid]);
    // While the bot runs, list takes the IMEI from the bot's record, never the port.
    let list = Command::new(hil_tests::sim7600_bin().unwrap())
        .arg("--config")
        .arg(&files.config)
        .args(["list", "--json"])
        .output()
        .unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(
        listed["modems"][0]["imei_source"], "running_bot",
        "{listed}"
    );
    assert_eq!(
        listed["modems"][0]["ports"][0]["holders"][0]["pid"],
        bot.pid
    );

    // 1. A stall shorter than the re-open step.
    rig.sim()
        .unwrap()
        .stall(Duration::from_millis(1500))
        .unwrap();
    wait_log(&bot, "ms (re-open)", Duration::from_secs(15));
    bot.wait_status("running again", Duration::from_secs(10), |s| {
        s["phase"] == "running"
    });

    // 2. A hang that only AT+CFUN=1,1 ends.
    rig.sim().unwrap().hang().unwrap();
    wait_log(&bot, "ms (modem reset)", Duration::from_secs(40));
    let history = rig.sim().unwrap().state().unwrap().modem.commands;
    assert!(history.iter().any(|l| l == "AT+CFUN=1,1"), "{history:?}");
    bot.wait_status("running again", Duration::from_secs(10), |s| {
        s["phase"] == "running"
    });

    // 3. A hang that ignores CFUN: only a USB reset brings it back, on a new node.
    rig.sim().unwrap().ignore_cfun(true).unwrap();
    rig.sim().unwrap().hang().unwrap();
    let authorized = sys
        .join("bus/usb/devices")
        .join(USB_PATH)
        .join("authorized");
    assert_eq!(read_authorized(&authorized, Duration::from_secs(60)), "0");
    // The kernel unbinds: the interface and its node go.
    std::fs::remove_dir_all(sys.join("bus/usb/devices").join(format!("{USB_PATH}:1.2"))).unwrap();
    std::fs::remove_file(dev.join("ttyUSB2")).unwrap();
    assert_eq!(read_authorized(&authorized, Duration::from_secs(5)), "1");
    rig.sim().unwrap().reenumerate().unwrap();
    add_at_interface(&sys, &dev, rig.port(), "ttyUSB7");
    wait_log(&bot, "ms (USB reset)", Duration::from_secs(30));
    bot.wait_status("running on the new node", Duration::from_secs(10), |s| {
        s["phase"] == "running"
    });
    assert_eq!(hil_tests::wait::holders_of(rig.port()), vec![bot.pid]);
    let log = bot.log_text();
    assert!(log.contains("ttyUSB7 is back"), "{log}");
    let events = watcher.wait("three modem_back events", Duration::from_secs(10), |seen| {
        let events: Vec<serde_json::Value> = seen
            .iter()
            .map(|s| serde_json::from_str(&s.payload).unwrap())
            .collect();
        (events
            .iter()
            .filter(|e| e["event_type"] == "modem_back")
            .count()
            >= 3)
            .then_some(events)
    });
    let of = |kind: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["event_type"] == kind)
            .map(|e| e["step"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(
        of("modem_back"),
        ["reopen", "modem_reset", "usb_reset"],
        "{events:#?}"
    );
    assert_eq!(
        of("recovery_step"),
        [
            "reopen",
            "reopen",
            "modem_reset",
            "reopen",
            "modem_reset",
            "usb_reset"
        ],
        "{events:#?}"
    );
    assert_eq!(of("modem_lost").len(), 3, "{events:#?}");
    assert_eq!(
        bot.stop_with(Signal::SIGTERM, Duration::from_secs(15))
            .code(),
        Some(0)
    );
}

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(
    smsd_left_on_a_vanished_port_gets_smstools_restarted_and_serves_the_new_one,
);

fn smsd_left_on_a_vanished_port_gets_smstools_restarted_and_serves_the_new_one() {
    let mut rig = rig();
    let smsd = rig.start_smsd().unwrap();
    let backend = bot::smsd_backend(smsd);
    let smsd_conf = smsd.conf();
    let before =
        hil_tests::wait::wait_until_port_held(rig.port(), Duration::from_secs(20)).unwrap();
    let config = rig.dir().join("watch.toml");
    std::fs::write(
        &config,
        format!(
            "port = {}\nmarker_dir = {}\n{backend}\n[bot]\nsmstools_conf = {}\n",
            q(rig.port()),
            q(&rig.dir().join("run-sim7600")),
            q(&smsd_conf)
        ),
    )
    .unwrap();
    let watch = |config: &Path| {
        let out = Command::new(hil_tests::sim7600_bin().unwrap())
            .arg("--config")
            .arg(config)
            .args(["watch-smstools", "--once", "--json"])
            .output()
            .unwrap();
        let line: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
        (out.status.code(), line)
    };
    // A healthy smsd is left alone.
    let (code, outcome) = watch(&config);
    assert_eq!(
        (code, outcome["outcome"].as_str()),
        (Some(0), Some("healthy"))
    );

    // The modem re-enumerates: smsd keeps the deleted node.
    rig.sim().unwrap().reenumerate().unwrap();
    let (code, outcome) = watch(&config);
    assert_eq!(code, Some(0), "{outcome}");
    assert_eq!(outcome["outcome"], "restarted", "{outcome}");
    assert!(
        outcome["stale"][0]["vanished"][0]
            .as_str()
            .is_some_and(|p| p.starts_with("/dev/pts/")),
        "{outcome}"
    );
    // The restarted smsd holds the new node and serves it.
    let after = hil_tests::wait::wait_until_port_held(rig.port(), Duration::from_secs(20)).unwrap();
    assert_ne!(after, before);
    let smsd = rig.smsd().unwrap();
    smsd.queue_sms("after-reenumeration", "491721234567", "still here")
        .unwrap();
    smsd.wait_for_sent("after-reenumeration", Duration::from_secs(30))
        .unwrap();
}
