//! smsd's eventhandler, as smsd runs it and as the bot runs it in smsd's place: the same
//! SMS in, the same file out with a status report asked for (`report = yes`), a file smsd
//! refuses, once with the real smsd holding the port and once with `sim7600 voice-bot`
//! holding it, each time with the same recording eventhandler. The bot's calls equal
//! smsd's: events, arguments (the message id of SENT included) and order, and the report
//! file is smsd's. The smsd.conf is shaped like a public SIM7600G-H voice-bot deployment's
//! (github.com/romeoblanaru/jestson_STT_and_SMS_server, `config/etc/smsd.conf`):
//! eventhandler, `report = yes`, `init`/`init2`, `memory_start`, `cs_convert`, `send_delay`;
//! its `init2` routes status reports as `+CDS` for smsd, which the simulator sends 300 ms
//! after the `+CMGS` of a message sent with TP-SRR. The keys the bot does not follow are
//! named at its start, one warning line each. And an SMS of the bot's API that asks for a
//! report gets its report file and `REPORT` call as well; and a report the modem stored on
//! the SIM instead of routing it is written, with its call, when the next bot reads the SIM.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::bot::{Bot, BotSetup, rig, smsd_backend, write_config};
use hil_tests::wait::{wait_for, wait_until_port_free};
use hil_tests::{Rig, SpoolFile};
use modem_sim::{ControlCommand, StatusReports};
use nix::sys::signal::Signal;

const WITHIN: Duration = Duration::from_secs(30);
const FRIEND: &str = "+491761234567";

/// The recording eventhandler: one line per call, the argument count, the event, the
/// file's folder, the third argument, and what the file says (sender, recipient, report).
fn write_recorder(dir: &Path, log: &Path) -> PathBuf {
    let script = dir.join("record-event");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             case \"$1\" in\n\
             RECEIVED) what=$(grep '^From:' \"$2\"; tail -n 1 \"$2\"; echo) ;;\n\
             REPORT) what=$(grep -E '^(From|Message_id|Status):' \"$2\") ;;\n\
             *) what=$(grep -E '^(To|Flash|Fail_reason):' \"$2\") ;;\n\
             esac\n\
             echo \"$# $1 $(basename \"$(dirname \"$2\")\") [$3] $(echo $what)\" >> '{}'\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn wait_lines(log: &Path, n: usize, context: &dyn Fn() -> String) -> Vec<String> {
    wait_for(format!("{n} eventhandler calls"), WITHIN, || {
        let l = lines(log);
        (l.len() >= n).then_some(l)
    })
    .unwrap_or_else(|e| panic!("{e}; calls: {:?}\n{}", lines(log), context()))
}

/// A rig whose modem sends status reports (`reports`, `delay` after each SMS) and whose
/// smsd.conf has `global` and `modem` lines and runs the recording eventhandler: the rig,
/// the eventhandler's log, smsd's outgoing and incoming folders.
fn recording_rig(
    reports: StatusReports,
    delay: Duration,
    global: &str,
    modem: &str,
) -> (Rig, PathBuf, PathBuf, PathBuf) {
    let mut rig = rig();
    rig.sim()
        .unwrap()
        .command(ControlCommand::Reports {
            mode: reports,
            delay: Some(delay),
        })
        .unwrap();
    let log = rig.dir().join("events.log");
    let recorder = write_recorder(rig.dir(), &log);
    let (outgoing, incoming) = {
        let smsd = rig.smsd().unwrap();
        smsd.add_config(
            &format!("{global}eventhandler = {}\n", recorder.display()),
            modem,
        )
        .unwrap();
        (smsd.outgoing(), smsd.incoming())
    };
    (rig, log, outgoing, incoming)
}

fn drop_file(outgoing: &Path, name: &str, text: &str) {
    let tmp = outgoing.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, outgoing.join(name)).unwrap();
}

/// The same SMS in, the same file out (with a report), a refused file: the calls in the
/// order they came, with the message id of SENT checked against the report's and then
/// written as `ID` (the simulator numbers messages across both runs).
fn exchange(rig: &Rig, outgoing: &Path, log: &Path, context: &dyn Fn() -> String) -> Vec<String> {
    rig.sim().unwrap().sms(FRIEND, "Ist das Paket da?").unwrap();
    wait_lines(log, 1, context);
    drop_file(outgoing, "door", "To: 491721234567\n\nAlarm: door open\n");
    wait_lines(log, 3, context);
    drop_file(outgoing, "nowhere", "Flash: yes\n\nno recipient\n");
    let calls = wait_lines(log, 4, context);
    let sent = calls
        .iter()
        .find(|l| l.contains(" SENT "))
        .unwrap_or_else(|| panic!("no SENT: {calls:?}"));
    let id = sent
        .split('[')
        .nth(1)
        .and_then(|r| r.split(']').next())
        .unwrap_or_default()
        .to_string();
    assert!(!id.is_empty(), "SENT without a message id: {sent}");
    let report = calls
        .iter()
        .find(|l| l.contains(" REPORT "))
        .unwrap_or_else(|| panic!("no REPORT: {calls:?}"));
    assert!(
        report.contains(&format!("Message_id: {id} ")),
        "the report is not about message {id}: {report}"
    );
    calls
        .iter()
        .map(|l| {
            l.replace(&format!("[{id}]"), "[ID]")
                .replace(&format!("Message_id: {id} "), "Message_id: ID ")
        })
        .collect()
}

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(
    the_bot_runs_the_eventhandler_with_smsd_arguments_in_smsd_order_including_reports,
    a_status_report_the_modem_stored_is_written_with_its_event_when_the_bot_reads_the_sim,
);

fn the_bot_runs_the_eventhandler_with_smsd_arguments_in_smsd_order_including_reports() {
    let (mut rig, log, outgoing, incoming) = recording_rig(
        StatusReports::Routed,
        Duration::from_millis(300),
        "receive_before_send = no\nautosplit = 3\n",
        "report = yes\ncs_convert = yes\ninit = AT+CMEE=1\ninit2 = AT+CNMI=2,1,0,1,0\n\
         send_delay = 1\nusing_routed_status_report = yes\n",
    );

    // smsd holds the port.
    rig.start_smsd().unwrap();
    let smsd_log = rig.smsd().unwrap().log_file();
    let by_smsd = exchange(&rig, &outgoing, &log, &|| {
        std::fs::read_to_string(&smsd_log).unwrap_or_default()
    });
    let smsd_report = report_file(&incoming);
    rig.smsd().unwrap().stop().unwrap();
    wait_until_port_free(rig.port(), WITHIN).unwrap();
    std::fs::rename(&log, rig.dir().join("events-smsd.log")).unwrap();
    for f in hil_tests::smsd::incoming_files(&incoming) {
        std::fs::remove_file(f).unwrap();
    }

    // The bot holds the port, smsd stopped by its handoff.
    let handoff = smsd_backend(rig.smsd().unwrap());
    let files = write_config(
        &rig,
        &BotSetup {
            answer_after_rings: 3,
            bot: String::new(),
            handoff,
        },
    );
    let bot = Bot::start(&files);
    let by_bot = exchange(&rig, &outgoing, &log, &|| bot.log_text());
    let bot_report = report_file(&incoming);
    // An SMS of the bot's own API that asks for a report: its report lands in incoming/
    // too, with its REPORT call.
    let (code, body) = bot.http(
        "POST",
        "/sms",
        Some(r#"{"to": "+491721234567", "text": "Through the API", "report": true}"#),
    );
    assert_eq!(code, 202, "{body}");
    let calls = wait_lines(&log, 5, &|| bot.log_text());
    assert!(
        calls[4].starts_with("2 REPORT incoming [] From: 491721234567 Message_id: "),
        "{calls:?}"
    );
    let bot_log = bot.log_text();
    let status = bot.stop_with(Signal::SIGTERM, WITHIN);
    assert!(status.success(), "{status}");

    assert_eq!(
        by_bot, by_smsd,
        "the bot's eventhandler calls differ from smsd's"
    );
    assert_eq!(
        by_smsd
            .iter()
            .map(|l| l.split(' ').take(4).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>(),
        [
            "2 RECEIVED incoming []",
            "3 SENT sent [ID]",
            "2 REPORT incoming []",
            "2 FAILED failed []",
        ],
        "smsd's own calls: {by_smsd:?}"
    );
    // The report file: every header smsd writes but the time it was received.
    for h in [
        "From",
        "From_TOA",
        "From_SMSC",
        "Subject",
        "Modem",
        "IMSI",
        "IMEI",
        "Report",
        "Alphabet",
        "Length",
        "UDH",
    ] {
        assert_eq!(bot_report.header(h), smsd_report.header(h), "header {h}");
    }
    let unnumbered = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with("Message_id:") && !l.starts_with("Discharge_timestamp:"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(unnumbered(&bot_report.text), unnumbered(&smsd_report.text));

    // The keys the bot does not follow, named at its start, one line each.
    for key in ["`init`", "`init2`", "`send_delay = 1`"] {
        let warned = format!("smsd.conf: {key} is not used while the bot holds the port: ");
        assert_eq!(
            bot_log.matches(&warned).count(),
            1,
            "{warned} not logged once:\n{bot_log}"
        );
    }
    for followed in [
        "`report",
        "`cs_convert",
        "`eventhandler",
        "`memory_start",
        "`autosplit",
    ] {
        assert!(
            !bot_log.contains(&format!("smsd.conf: {followed}")),
            "{followed} was warned about:\n{bot_log}"
        );
    }
}

/// The one report file in incoming/ (the other is the received message).
fn report_file(incoming: &Path) -> SpoolFile {
    hil_tests::smsd::incoming_files(incoming)
        .iter()
        .map(|p| SpoolFile::read(p).unwrap())
        .find(|f| f.text.starts_with("SMS STATUS REPORT"))
        .unwrap_or_else(|| panic!("no report file in {}", incoming.display()))
}

fn a_status_report_the_modem_stored_is_written_with_its_event_when_the_bot_reads_the_sim() {
    let (mut rig, log, outgoing, incoming) = recording_rig(
        StatusReports::Stored,
        Duration::from_millis(100),
        "",
        "report = yes\n",
    );
    let handoff = smsd_backend(rig.smsd().unwrap());
    let files = write_config(
        &rig,
        &BotSetup {
            answer_after_rings: 3,
            bot: String::new(),
            handoff,
        },
    );
    let bot = Bot::start(&files);
    drop_file(&outgoing, "door", "To: 491721234567\n\nAlarm: door open\n");
    let calls = wait_lines(&log, 1, &|| bot.log_text());
    assert!(calls[0].starts_with("3 SENT sent ["), "{calls:?}");
    wait_for("the report stored on the SIM", WITHIN, || {
        (rig.modem().state().unwrap().modem.sim.used == 1).then_some(())
    })
    .unwrap();
    assert!(bot.stop_with(Signal::SIGTERM, WITHIN).success());

    // The next bot reads the storage at its start: the report is written and deleted.
    let bot = Bot::start(&files);
    let calls = wait_lines(&log, 2, &|| bot.log_text());
    assert!(
        calls[1].starts_with("2 REPORT incoming [] From: 491721234567 Message_id: "),
        "{calls:?}"
    );
    let report = report_file(&incoming);
    assert_eq!(report.header("From"), Some("491721234567"));
    wait_for("the SIM emptied", WITHIN, || {
        (rig.modem().state().unwrap().modem.sim.used == 0).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}; bot log:\n{}", bot.log_text()));
    assert!(bot.stop_with(Signal::SIGTERM, WITHIN).success());
}
