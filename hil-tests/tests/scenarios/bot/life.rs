//! The voice bot's whole life with the real smsd (issue 6): smsd serves the port, the bot
//! starts and takes it, the modem gets the seed's init sequence, a call with caller ID is
//! answered on ring N and logged, SMS sent through the API arrive at the simulator as the
//! same number and text in every alphabet, and SIGTERM gives the port back to smsd.

use crate::support::bot;

use std::time::Duration;

use crate::support::bot::{Bot, BotSetup, host_commands, rig, smsd_backend, write_config};
use nix::sys::signal::Signal;

const CALLER: &str = "+491761234567";
const RECIPIENT: &str = "+491721234567";

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(
    smsd_to_bot_to_call_to_sms_and_back_to_smsd,
    a_modem_refusing_cexterntone_is_served_with_a_warning,
);

fn smsd_to_bot_to_call_to_sms_and_back_to_smsd() {
    let mut rig = rig();
    let port = rig.port().to_path_buf();
    {
        let smsd = rig.smsd().unwrap();
        smsd.start_with_script().unwrap();
    }
    let holders = hil_tests::wait::wait_until_port_held(&port, Duration::from_secs(15)).unwrap();
    assert_all_smsd(&holders);
    let setup = BotSetup {
        answer_after_rings: 2,
        bot: String::new(),
        handoff: smsd_backend(rig.smsd().unwrap()),
    };
    let files = write_config(&rig, &setup);

    // The bot starts: smsd is stopped and the bot alone holds the port.
    let mut bot = Bot::start(&files);
    assert!(rig.smsd().unwrap().pid().is_none(), "smsd still runs");
    assert_eq!(hil_tests::wait::holders_of(&port), vec![bot.pid]);
    let status = bot.status().unwrap();
    assert_eq!(status["identity"]["model"], "SIMCOM_SIM7600G-H");
    assert_eq!(status["identity"]["imei"], "351602000330570");
    assert!(status["signal"]["rssi"].is_number(), "{status}");

    // The seed's init sequence, in order (smsd never sends AT+CEXTERNTONE, so its first
    // appearance is the bot's init).
    let commands = host_commands(&rig.transcript().unwrap());
    let at = commands
        .iter()
        .position(|c| c == r"AT+CEXTERNTONE=1\r")
        .unwrap_or_else(|| panic!("no AT+CEXTERNTONE=1 in {commands:?}"));
    let seed = [
        r"AT\r",
        r"ATE0\r",
        r"AT+CEXTERNTONE=1\r",
        r"AT+CLIP=1\r",
        r"ATS0=2\r",
        r"AT+CLVL=5\r",
    ];
    assert_eq!(&commands[at - 2..at + 4], &seed, "{commands:?}");
    // What robust operation adds: numeric errors, call list reports, SMS notices (and,
    // serving smstools' spool, status reports routed to the bot).
    for extra in [r"AT+CMEE=1\r", r"AT+CLCC=1\r", r"AT+CNMI=2,1,0,1,0\r"] {
        assert!(
            commands[at..].iter().any(|c| c == extra),
            "{extra} missing: {commands:?}"
        );
    }

    // A call with caller ID, answered by the modem on ring 2, the caller hangs up.
    rig.sim().unwrap().call(CALLER, false, None).unwrap();
    let live = bot.wait_status("an answered call", Duration::from_secs(15), |s| {
        s["current_call"]["state"] == "active"
    });
    assert_eq!(live["current_call"]["caller"], CALLER);
    assert_eq!(live["current_call"]["rings"], 2);
    std::thread::sleep(Duration::from_millis(1200));
    rig.sim().unwrap().hangup().unwrap();
    let calls = bot.wait_calls(1, Duration::from_secs(10));
    let call = &calls[0];
    assert_eq!(call["caller"], CALLER, "{call}");
    assert_eq!(call["caller_id"], "number");
    assert_eq!(call["rings"], 2);
    assert_eq!(call["answered"], true);
    assert_eq!(call["end"], "caller_hung_up");
    assert!(call["duration_s"].as_u64().unwrap() >= 1, "{call}");
    let logged = std::fs::read_to_string(&files.call_log).unwrap();
    assert_eq!(logged.lines().count(), 1, "{logged}");

    // SMS through the API, every alphabet, one long enough to be concatenated.
    let long: String = "The quick brown fox jumps over the lazy dog. "
        .chars()
        .cycle()
        .take(400)
        .collect();
    let texts = [
        "Hello from the voice bot".to_owned(),
        "Grüße aus Köln: café, naïve, Ærø".to_owned(),
        "Привет! Как дела?".to_owned(),
        "Party 🎉 tonight 😀".to_owned(),
        long,
    ];
    for text in &texts {
        let (code, body) = bot.post_sms(RECIPIENT, text);
        assert_eq!(code, 202, "{body}");
        let id = body["id"].as_str().unwrap().to_owned();
        let record = bot.wait_sms(&id, "sent", Duration::from_secs(20));
        assert!(!record["message_references"].as_array().unwrap().is_empty());
    }
    let sent = rig.sim().unwrap().state().unwrap().modem.sent;
    let got: Vec<(&str, &str)> = sent
        .iter()
        .map(|s| (s.number.as_str(), s.text.as_str()))
        .collect();
    let want: Vec<(&str, &str)> = texts.iter().map(|t| (RECIPIENT, t.as_str())).collect();
    assert_eq!(got, want);
    assert_eq!(
        sent.last().unwrap().parts,
        3,
        "400 GSM characters take 3 parts"
    );

    // SIGTERM: the bot exits 0 and smsd holds the port again.
    let status = bot.stop_with(Signal::SIGTERM, Duration::from_secs(20));
    assert_eq!(status.code(), Some(0));
    assert!(rig.smsd().unwrap().pid().is_some(), "smsd runs again");
    let holders = hil_tests::wait::wait_until_port_held(&port, Duration::from_secs(15)).unwrap();
    assert_all_smsd(&holders);
    assert!(
        std::fs::read_dir(rig.dir().join("run-sim7600"))
            .map(|d| d.count())
            .unwrap_or(0)
            == 0,
        "the restore marker is gone"
    );
}

/// smsd's modem process (a child of its main process) is what holds the port.
fn assert_all_smsd(holders: &[i32]) {
    assert!(!holders.is_empty());
    for pid in holders {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        assert_eq!(comm.trim(), "smsd", "port holder {pid}");
    }
}

fn a_modem_refusing_cexterntone_is_served_with_a_warning() {
    // AT+CEXTERNTONE is a SIM800 command; what a SIM7600 answers is unverified.
    let rig = hil_tests::Rig::simulated(hil_tests::SimConfig {
        externtone: modem_sim::ExterntoneReply::Error,
        ring_interval: bot::RING,
        ..hil_tests::SimConfig::default()
    })
    .unwrap();
    let setup = BotSetup {
        answer_after_rings: 1,
        bot: String::new(),
        handoff: bot::flag_backend(&rig),
    };
    let files = write_config(&rig, &setup);
    let mut bot = Bot::start(&files);
    let status = bot.status().unwrap();
    let warnings = status["init_warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{status}");
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .starts_with("AT+CEXTERNTONE=1"),
        "{warnings:?}"
    );
    assert!(bot.log_text().contains("init: AT+CEXTERNTONE=1"));
    // Everything after it ran: the modem answers on ring 1.
    rig.sim().unwrap().call(CALLER, false, None).unwrap();
    bot.wait_status("the answer", Duration::from_secs(10), |s| {
        s["current_call"]["state"] == "active"
    });
    assert_eq!(
        bot.stop_with(Signal::SIGTERM, Duration::from_secs(15))
            .code(),
        Some(0)
    );
}
