//! The spool files host-linux writes, compared byte for byte with the files the real
//! smsd (Debian's smstools 3.1.21) writes for the same messages on the simulator; the
//! outgoing file rules checked against what smsd actually sends; and the claim protocol
//! checked against a real smsd that starts after a crash.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hil_tests::wait::wait_for;
use hil_tests::{Rig, SimConfig};
use host_linux::spool::incoming::{PartsMeta, ReceivedSms, SpoolTime, render_incoming};
use host_linux::spool::outbox::{Outbox, Recovered};
use host_linux::spool::outgoing::{OutgoingMessage, SendOutcome, render_failed, render_sent};
use host_linux::spool::receive::SimReader;
use host_linux::spool::{ModemIdentity, SmsdConf};
use modem_core::pdu::{Deliver, PushOutcome, Reassembler};

const TIMEOUT: Duration = Duration::from_secs(30);
const SENDER: &str = "+31641600986";

fn spool_time(text: &str) -> SpoolTime {
    let n: Vec<u8> = text
        .split(['-', ' ', ':'])
        .map(|f| f.parse().unwrap())
        .collect();
    SpoolTime {
        year: n[0],
        month: n[1],
        day: n[2],
        hour: n[3],
        minute: n[4],
        second: n[5],
    }
}

fn header<'a>(raw: &'a str, name: &str) -> &'a str {
    raw.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name}: in {raw}"))
}

fn files_named(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(prefix) && !n.ends_with(".LOCK")
        })
        .collect();
    v.sort();
    v
}

fn modem_of(rig: &Rig) -> ModemIdentity {
    let id = rig.modem().state().unwrap().modem.identity;
    ModemIdentity {
        name: "GSM1".into(),
        imsi: Some(id.imsi),
        imei: Some(id.imei),
    }
}

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(
    incoming_files_are_byte_for_byte_the_ones_smsd_writes,
    sent_and_failed_files_are_the_ones_smsd_writes_and_texts_read_as_smsd_sends_them,
    smsd_never_sends_a_claimed_file_and_sends_a_recovered_one_exactly_once,
    a_message_whose_middle_part_never_comes_is_written_part_by_part_like_smsd_does,
);

fn incoming_files_are_byte_for_byte_the_ones_smsd_writes() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let texts = [
        "How are you?".to_string(),
        "Grüße aus Köln € ok".to_string(),
        "Привет мир 😀".to_string(),
        "tab\there\nnewline".to_string(),
        "Long text part number. ".repeat(12),
        "Длинный текст на кириллице. ".repeat(4),
    ];
    // Stored on the SIM before smsd starts, so the PDUs can be read from the simulator.
    for t in &texts {
        rig.sim().unwrap().sms(SENDER, t).unwrap();
    }
    // A number without '+': type of number unknown (From_TOA 81).
    rig.sim()
        .unwrap()
        .sms("01701234567", "From a national number")
        .unwrap();
    let texts = [&texts[..], &["From a national number".to_string()]].concat();
    let state = rig.modem().state().unwrap();
    let pdus: Vec<String> = state
        .modem
        .sim
        .messages
        .iter()
        .map(|m| m.pdu.clone())
        .collect();
    let modem = modem_of(&rig);

    let smsd = rig.start_smsd().unwrap();
    let incoming = smsd.incoming();
    wait_for("smsd to write every message", TIMEOUT, || {
        (files_named(&incoming, "GSM1.").len() == texts.len()).then_some(())
    })
    .unwrap();
    // Give smsd a moment to finish the last file (it writes in place).
    std::thread::sleep(Duration::from_millis(500));

    // Our files for the same PDUs, decoded and reassembled by modem-core.
    let mut ours: Vec<(ReceivedSms, String)> = Vec::new();
    let mut reassembler: Reassembler = Reassembler::new(3600);
    let mut firsts: Vec<Deliver> = Vec::new();
    for pdu in &pdus {
        let part = Deliver::from_hex(pdu).unwrap();
        match part.concatenation {
            None => ours.push((ReceivedSms::from_deliver(&part), String::new())),
            Some(_) => {
                firsts.push(part.clone());
                match reassembler.push(part, 0) {
                    PushOutcome::Complete(msg) => {
                        let meta = PartsMeta::of(firsts.last().unwrap());
                        ours.push((
                            ReceivedSms::from_reassembled(&msg, &meta, Vec::new()),
                            String::new(),
                        ));
                    }
                    PushOutcome::Pending { evicted: None } => {}
                    other => panic!("{other:?}"),
                }
            }
        }
    }
    assert_eq!(ours.len(), texts.len());

    let mut matched = 0;
    for path in files_named(&incoming, "GSM1.") {
        let theirs = std::fs::read(&path).unwrap();
        let head = String::from_utf8_lossy(&theirs).into_owned();
        let received = spool_time(header(&head, "Received"));
        let found = ours
            .iter_mut()
            .find(|(sms, _)| render_incoming(sms, &modem, received).bytes == theirs);
        match found {
            Some((_, seen)) if seen.is_empty() => {
                *seen = path.display().to_string();
                matched += 1;
            }
            _ => {
                let mine: Vec<String> = ours
                    .iter()
                    .map(|(s, _)| {
                        String::from_utf8_lossy(&render_incoming(s, &modem, received).bytes)
                            .into_owned()
                    })
                    .collect();
                panic!(
                    "smsd's {} has no identical file of ours.\nsmsd:\n{:?}\nours:\n{mine:#?}",
                    path.display(),
                    String::from_utf8_lossy(&theirs)
                );
            }
        }
    }
    assert_eq!(matched, texts.len());
}

fn sent_and_failed_files_are_the_ones_smsd_writes_and_texts_read_as_smsd_sends_them() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let modem = modem_of(&rig);
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("plain", b"To: 491721234567\n\nHello from smsd\n".to_vec()),
        ("report", b"To: 491721234567\nReport: yes\n\nwith report".to_vec()),
        (
            "ucs2",
            b"To: 491721234568\nAlphabet: UCS2\nFlash: yes\nX-Custom: kept\n\n\x04\x1f\x04\x40\xd8\x3d\xde\x00"
                .to_vec(),
        ),
        ("utf8", "To: +491721234569\n\nGrüße € utf8  \n\n".as_bytes().to_vec()),
        ("iso", b"To: 491721234570\n\nGr\xfc\xdfe \xa4 iso".to_vec()),
        ("nodest", b"Flash: no\n\nnowhere".to_vec()),
    ];
    let smsd = rig.smsd().unwrap();
    for (name, raw) in &files {
        std::fs::write(smsd.outgoing().join(name), raw).unwrap();
    }
    let conf = SmsdConf::load(&smsd.conf()).unwrap();
    let smsd = rig.start_smsd().unwrap();
    let (sent_dir, failed_dir) = (smsd.sent(), smsd.failed());
    wait_for("smsd to finish every file", TIMEOUT, || {
        (files_named(&sent_dir, "").len() == 5 && files_named(&failed_dir, "").len() == 1)
            .then_some(())
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let sent_by_modem = rig.modem().state().unwrap().modem.sent;
    for (name, raw) in &files {
        if *name == "nodest" {
            let theirs = std::fs::read(failed_dir.join(name)).unwrap();
            let head = String::from_utf8_lossy(&theirs).into_owned();
            let ours = render_failed(
                raw,
                header(&head, "Fail_reason"),
                spool_time(header(&head, "Failed")),
                None,
            );
            assert_eq!(String::from_utf8_lossy(&ours), head);
            let e = OutgoingMessage::parse(raw, Path::new(name), conf.outgoing_utf8).unwrap_err();
            assert!(e.to_string().contains("No destination"), "{e}");
            continue;
        }
        let theirs = std::fs::read(sent_dir.join(name)).unwrap();
        let head = String::from_utf8_lossy(&theirs).into_owned();
        let message_id = head
            .lines()
            .find_map(|l| l.strip_prefix("Message_id: "))
            .map(|v| v.parse::<u8>().unwrap());
        let parsed = OutgoingMessage::parse(raw, Path::new(name), conf.outgoing_utf8).unwrap();
        assert_eq!(
            message_id.is_some(),
            parsed.wants_report(false),
            "smsd names a Message_id exactly when a report was asked for: {head}"
        );
        let ours = render_sent(
            raw,
            &modem,
            spool_time(header(&head, "Sent")),
            Duration::from_secs(header(&head, "Sending_time").parse().unwrap()),
            message_id,
        );
        assert_eq!(
            ours,
            theirs,
            "{name}: ours {:?}",
            String::from_utf8_lossy(&ours)
        );

        // What we would send is what smsd sent.
        let number = format!("+{}", parsed.to.digits);
        let sent = sent_by_modem
            .iter()
            .find(|s| s.number == number && s.text == parsed.text);
        assert!(
            sent.is_some(),
            "{name}: we read {number} {:?}; smsd sent {sent_by_modem:?}",
            parsed.text
        );
    }
}

fn smsd_never_sends_a_claimed_file_and_sends_a_recovered_one_exactly_once() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let modem = modem_of(&rig);
    let smsd = rig.smsd().unwrap();
    let conf = SmsdConf::load(&smsd.conf()).unwrap();
    let outbox = Outbox::from_conf(&conf, modem);
    let out = smsd.outgoing();
    for (name, text) in [
        ("claimed", "was claimed"),
        ("sending", "was being sent"),
        ("done", "was sent"),
    ] {
        std::fs::write(out.join(name), format!("To: 491721234567\n\n{text}")).unwrap();
    }
    // The bot claims three files and "crashes" at three different steps.
    let claimed = outbox.claim(&out.join("claimed")).unwrap().unwrap();
    let mut sending = outbox.claim(&out.join("sending")).unwrap().unwrap();
    sending.begin_sending().unwrap();
    let mut done = outbox.claim(&out.join("done")).unwrap().unwrap();
    done.begin_sending().unwrap();
    outbox
        .complete(
            done,
            &SendOutcome::Sent {
                message_refs: vec![1],
                at: SpoolTime::now_local(),
                took: Duration::from_secs(1),
            },
        )
        .unwrap();
    drop((claimed, sending));

    // smsd running over the leftovers sends none of them: hidden names are not its.
    rig.start_smsd().unwrap();
    std::thread::sleep(Duration::from_secs(4));
    assert!(rig.modem().state().unwrap().modem.sent.is_empty());
    rig.smsd().unwrap().stop().unwrap();

    // Recovery (sim7600 restore, or the bot's next start) puts the unfinished files back.
    let mut recovered = outbox.recover().unwrap();
    recovered.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(recovered.len(), 2, "{recovered:?}");
    assert!(
        recovered
            .iter()
            .any(|r| matches!(r, Recovered::ReturnedUnsent { path } if path.ends_with("claimed")))
    );
    assert!(
        recovered.iter().any(
            |r| matches!(r, Recovered::ReturnedMaybeSent { path } if path.ends_with("sending"))
        )
    );

    let smsd = rig.start_smsd().unwrap();
    smsd.wait_for_sent("claimed", TIMEOUT).unwrap();
    smsd.wait_for_sent("sending", TIMEOUT).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let mut texts: Vec<String> = rig
        .modem()
        .state()
        .unwrap()
        .modem
        .sent
        .iter()
        .map(|s| s.text.clone())
        .collect();
    texts.sort();
    assert_eq!(
        texts,
        ["was being sent", "was claimed"],
        "the sent one is never sent again"
    );
}

/// Sends one AT command straight to the simulated port (nobody else holds it yet).
fn at_command(port: &Path, command: &str) -> String {
    use std::io::{Read, Write};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(port)
        .unwrap();
    f.write_all(format!("{command}\r").as_bytes()).unwrap();
    let mut got = Vec::new();
    wait_for("the modem's OK", Duration::from_secs(5), || {
        let mut buf = [0u8; 4096];
        let n = f.read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
        String::from_utf8_lossy(&got)
            .contains("OK\r\n")
            .then_some(())
    })
    .unwrap();
    String::from_utf8_lossy(&got).into_owned()
}

fn a_message_whose_middle_part_never_comes_is_written_part_by_part_like_smsd_does() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let text = "Part text goes here. ".repeat(20);
    rig.sim().unwrap().sms(SENDER, &text).unwrap();
    let state = rig.modem().state().unwrap();
    let stored: Vec<(u16, String)> = state
        .modem
        .sim
        .messages
        .iter()
        .map(|m| (u16::try_from(m.index).unwrap(), m.pdu.clone()))
        .collect();
    assert_eq!(stored.len(), 3, "a three-part message");
    // Part 2 never arrives: take it off the SIM before smsd looks.
    let reply = at_command(rig.port(), &format!("AT+CMGD={}", stored[1].0));
    assert!(reply.contains("OK"), "{reply}");
    let modem = modem_of(&rig);

    // smsd gives up on the message after a minute (its shortest ic_purge time).
    let smsd = rig.smsd().unwrap();
    let conf = std::fs::read_to_string(smsd.conf()).unwrap();
    std::fs::write(
        smsd.conf(),
        format!("ic_purge_hours = 0\nic_purge_minutes = 1\nic_purge_interval = 1\n{conf}"),
    )
    .unwrap();
    let smsd = rig.start_smsd().unwrap();
    let incoming = smsd.incoming();
    wait_for(
        "smsd to write the parts that came",
        Duration::from_secs(200),
        || (files_named(&incoming, "GSM1.").len() == 2).then_some(()),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));

    // Ours: the same two parts through the SIM reader, given up at its expiry.
    let mut reader = SimReader::new(60);
    for (index, pdu) in [&stored[0], &stored[2]] {
        assert!(
            reader
                .push(*index, Deliver::from_hex(pdu).unwrap(), 0)
                .is_empty()
        );
    }
    let ready = reader.expired(60);
    assert_eq!(ready.len(), 2);
    assert_eq!(ready[0].sim_indexes, [stored[0].0]);
    assert_eq!(ready[1].sim_indexes, [stored[2].0]);
    for path in files_named(&incoming, "GSM1.") {
        let theirs = std::fs::read(&path).unwrap();
        let head = String::from_utf8_lossy(&theirs).into_owned();
        assert!(head.contains("\nIncomplete: yes\n"), "{head}");
        let received = spool_time(header(&head, "Received"));
        let mine: Vec<Vec<u8>> = ready
            .iter()
            .map(|m| render_incoming(&m.sms, &modem, received).bytes)
            .collect();
        assert!(
            mine.contains(&theirs),
            "smsd's {}:\n{head}\nours:\n{:#?}",
            path.display(),
            mine.iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect::<Vec<_>>()
        );
    }
}
