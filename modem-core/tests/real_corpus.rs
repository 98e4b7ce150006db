//! Captures of real SIMCom traffic from public sources (`tests/corpus/*/capture.txt`, each
//! with its `PROVENANCE.md`), replayed through the digester inside atat's real `Ingress`
//! (a line at a time and byte by byte) and through the capture classifier, with the message lines
//! decoded by the PDU codec the way `sim7600 decode` pairs them: what each capture means
//! (call events, numbers, durations, keys, texts) is asserted.
#![allow(clippy::unwrap_used)]

use atat::{AtatIngress, Ingress, Response, ResponseSlot, UrcChannel};
use modem_core::digest::{INGRESS_BUF_SIZE, Sim7600Digester};
use modem_core::line::{FinalResult, LineClassifier, LineItem};
use modem_core::pdu::{Body, ConcatReference, Incoming, StatusOutcome, Submit};
use modem_core::urc::{CallState, RingType, Urc};

type Reply = Response<INGRESS_BUF_SIZE>;

/// The bytes of a capture file: escapes undone, note lines (`#`) and the file's own line
/// ends left out.
fn capture(text: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                let mut utf8 = [0u8; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                continue;
            }
            match chars.next() {
                Some('r') => bytes.push(b'\r'),
                Some('n') => bytes.push(b'\n'),
                Some('\\') => bytes.push(b'\\'),
                Some('x') => {
                    let hex: String = chars.by_ref().take(2).collect();
                    bytes.push(u8::from_str_radix(&hex, 16).unwrap());
                }
                other => panic!("unknown escape \\{other:?} in {line:?}"),
            }
        }
    }
    bytes
}

/// What the digester hands out for a capture, fed a line at a time and byte by byte (both
/// must agree). The reply of one command is taken before the next line arrives, as atat's
/// client takes it before it writes the next command.
fn digest(bytes: &[u8]) -> (Vec<Reply>, Vec<Urc>) {
    let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
    let by_line = digest_in(&lines);
    let pieces: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(digest_in(&pieces), by_line, "byte by byte");
    by_line
}

fn digest_in(chunks: &[&[u8]]) -> (Vec<Reply>, Vec<Urc>) {
    let slot = ResponseSlot::<INGRESS_BUF_SIZE>::new();
    let channel = UrcChannel::<Urc, 64, 1>::new();
    let mut subscription = channel.subscribe().unwrap();
    let mut buf = [0u8; INGRESS_BUF_SIZE];
    let mut ingress = Ingress::new(Sim7600Digester::new(), &mut buf, &slot, &channel);
    let (mut replies, mut urcs) = (Vec::new(), Vec::new());
    for chunk in chunks {
        assert_eq!(ingress.try_write(chunk).unwrap(), chunk.len());
        if let Some(reply) = slot.try_get() {
            replies.push(reply.clone());
            drop(reply);
            slot.reset();
        }
        while let Some(urc) = subscription.try_next_message_pure() {
            urcs.push(urc);
        }
    }
    (replies, urcs)
}

fn classify(bytes: &[u8]) -> Vec<LineItem> {
    let mut classifier = LineClassifier::new();
    let mut items: Vec<LineItem> = classifier.feed(bytes).collect();
    items.extend(classifier.finish());
    items
}

/// A URC's meaning in a few words, for comparing whole captures at a glance.
fn meaning(urc: &Urc) -> String {
    match urc {
        Urc::Ready => "ready".into(),
        Urc::SimStatus(state) => format!("sim {state:?}"),
        Urc::Ring | Urc::CellularRing(RingType::Voice) => "ring".into(),
        Urc::VoiceCallBegin => "call begins".into(),
        Urc::VoiceCallEnd { duration_secs } => match duration_secs {
            Some(s) => format!("call ends after {s} s"),
            None => "call ends".into(),
        },
        Urc::Dtmf(key) => format!("key {}", key.as_char()),
        Urc::MissedCall(m) => format!(
            "missed call at {} from {}",
            m.time,
            m.number.as_deref().unwrap_or("?")
        ),
        Urc::CallStatus(c) => {
            let state = match c.state {
                CallState::Active => "active",
                CallState::Incoming => "incoming",
                CallState::Waiting => "waiting",
                CallState::Disconnected => "gone",
                other => panic!("unexpected state {other:?}"),
            };
            let mut text = format!("call {} {state}", c.id);
            if let Some(number) = &c.number {
                text += &format!(" {number}");
            }
            if let Some(name) = &c.alpha {
                text += &format!(" ({name})");
            }
            text
        }
        Urc::NewMessage(m) => format!("sms stored at {} {}", m.storage, m.index),
        other => format!("{other:?}"),
    }
}

fn meanings(urcs: &[Urc]) -> Vec<String> {
    urcs.iter().map(meaning).collect()
}

/// The URCs and final codes the classifier found, as meanings (`final Ok`...).
fn classified_meanings(items: &[LineItem]) -> Vec<String> {
    items
        .iter()
        .filter_map(|item| match item {
            LineItem::Urc(urc) => Some(meaning(urc)),
            LineItem::Final(result) => Some(format!("final {result:?}")),
            _ => None,
        })
        .collect()
}

/// The message lines of a capture: each hex line after a `+CMGR:`, `+CMGL:`, `+CMGRD:`,
/// `+CMT:` or `+CDS:` header, with the header's last field (the TPDU length), paired on
/// the raw lines as `sim7600 decode` pairs them.
fn message_lines(bytes: &[u8]) -> Vec<(String, usize)> {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text
        .split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .windows(2)
        .filter_map(|pair| {
            let (header, line) = (pair[0], pair[1]);
            let prefix = ["+CMGR:", "+CMGL:", "+CMGRD:", "+CMT:", "+CDS:"]
                .into_iter()
                .find(|p| header.starts_with(p))?;
            let length = header[prefix.len()..]
                .rsplit(',')
                .next()?
                .trim()
                .parse()
                .ok()?;
            line.bytes()
                .all(|b| b.is_ascii_hexdigit())
                .then(|| (line.to_owned(), length))
        })
        .collect()
}

fn text_of(body: &Body) -> &str {
    body.text().unwrap()
}

#[test]
fn modemmanager_simtech_fixtures() {
    let bytes = capture(include_str!("corpus/modemmanager-simtech/capture.txt"));
    let expected = [
        "ring",
        "ring",
        "call begins",
        "key 8",
        "key *",
        "key #",
        "key A",
        "call 1 active",
        "call 2 active 123456789",
        "call 3 active 987654321 (Alice)",
        "call 2 waiting 987654321",
        "call ends",
        "call ends after 41 s",
        "missed call at 11:01AM from 07712345678",
        "sms stored at ME 1",
    ];
    let (replies, urcs) = digest(&bytes);
    assert_eq!(meanings(&urcs), expected);
    assert_eq!(replies, vec![Response::ok(b"")]);
    let mut with_final: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    with_final.insert(14, "final Ok".into());
    assert_eq!(classified_meanings(&classify(&bytes)), with_final);
}

#[test]
fn phonefront_simcom_terminal_notes() {
    let bytes = capture(include_str!("corpus/phonefront-simcom/capture.txt"));
    let (replies, urcs) = digest(&bytes);
    assert_eq!(
        meanings(&urcs),
        [
            "ring",
            "call 4 incoming 08020866256",
            "ring",
            "missed call at 11:53AM from 08020866256",
            "ring",
            "call 4 incoming 08020866256",
            "call begins",
            "call 4 active 08020866256",
            "call 4 gone 08020866256",
            "call ends after 8 s",
            "sms stored at SM 9",
        ]
    );
    // The OK answers ATA; the ERROR a command the notes do not show.
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert_eq!(replies[0], Response::ok(b""));
    assert_eq!(replies[1], Response::OtherError, "{replies:?}");
    let items = classify(&bytes);
    assert!(
        items.contains(&LineItem::Final(FinalResult::Ok))
            && items.contains(&LineItem::Final(FinalResult::Error)),
        "{items:?}"
    );
    assert!(!items.iter().any(|i| matches!(i, LineItem::Unknown { .. })));
}

#[test]
fn lilygo_t_sim7600_hang_up_with_the_end_before_ok() {
    let bytes = capture(include_str!("corpus/lilygo-t-sim7600x-65/capture.txt"));
    let (replies, urcs) = digest(&bytes);
    assert_eq!(meanings(&urcs), ["call ends after 17 s"]);
    assert_eq!(replies, vec![Response::ok(b""), Response::ok(b"")]);
    let items = classify(&bytes);
    assert_eq!(
        classified_meanings(&items),
        ["final Ok", "call ends after 17 s", "final Ok"]
    );
    assert!(items.contains(&LineItem::Echo(heapless::String::try_from("ATH").unwrap())));
}

#[test]
fn esp_protocols_sim7600_start_up_bytes() {
    let bytes = capture(include_str!("corpus/esp-protocols-789/capture.txt"));
    let (_, urcs) = digest(&bytes);
    assert_eq!(meanings(&urcs), ["ready", "sim Ready"]);
    assert_eq!(
        classified_meanings(&classify(&bytes)),
        ["ready", "sim Ready"]
    );
}

#[test]
fn python_gsmmodem_pdus_read_listed_and_delivered() {
    let bytes = capture(include_str!("corpus/python-gsmmodem-pdu/capture.txt"));

    // The replies to AT+CMGR / AT+CMGL carry the header and the PDU line.
    let (replies, _) = digest(&bytes);
    assert!(replies.len() >= 3, "{replies:?}");
    for (reply, hex_start) in replies.iter().zip(["06917228", "07915892", "07911326"]) {
        let Response::Ok(text) = reply else {
            panic!("not a reply: {reply:?}")
        };
        assert!(
            String::from_utf8_lossy(text).contains(hex_start),
            "{:?}",
            String::from_utf8_lossy(text)
        );
    }

    let messages = message_lines(&bytes);
    assert_eq!(messages.len(), 7, "{messages:?}");
    let decoded: Vec<_> = messages
        .iter()
        .map(|(hex, length)| Incoming::from_cmgr(hex, *length))
        .collect();

    // +CMGR: a message from +27821234567, its service centre and time.
    let Ok(Incoming::Deliver(first)) = &decoded[0] else {
        panic!("{:?}", decoded[0])
    };
    assert_eq!(first.originator.to_string(), "+27821234567");
    assert_eq!(first.smsc.as_ref().unwrap().to_string(), "+2782913593");
    assert_eq!(first.timestamp.to_string(), "13/03/08,15:02:16+08");
    assert_eq!(text_of(&first.body), "Test2");

    // +CMGL: two messages, the second a part of a concatenated one.
    let Ok(Incoming::Deliver(second)) = &decoded[1] else {
        panic!("{:?}", decoded[1])
    };
    assert_eq!(second.originator.to_string(), "+85291234567");
    assert_eq!(
        text_of(&second.body),
        "It is easy to read text messages via AT commands."
    );
    let Ok(Incoming::Deliver(third)) = &decoded[2] else {
        panic!("{:?}", decoded[2])
    };
    assert_eq!(third.originator.to_string(), "2781188");
    let concat = third.concatenation.unwrap();
    assert_eq!(
        (concat.reference, concat.sequence, concat.total),
        (ConcatReference::Eight(0xC3), 1, 1)
    );
    assert_eq!(
        text_of(&third.body),
        "Hello!You have R 19.50 FREE airtime available. R 19.50 will expire on 01/07/2013. "
    );

    // A stored outgoing message is a SUBMIT, to +31628870634.
    assert!(decoded[3].is_err());
    let submit = Submit::from_cmgs(&messages[3].0, messages[3].1).unwrap();
    assert_eq!(submit.destination.to_string(), "+31628870634");
    assert_eq!(text_of(&submit.body), "www.diafaan.com");

    // +CMT: the first message again, delivered directly.
    assert_eq!(decoded[4], decoded[0]);

    // +CDS: a report that message 214 reached +31628870634.
    let Ok(Incoming::StatusReport(report)) = &decoded[5] else {
        panic!("{:?}", decoded[5])
    };
    assert_eq!(report.message_reference, 214);
    assert_eq!(report.recipient.to_string(), "+31628870634");
    assert_eq!(report.status.outcome(), StatusOutcome::Delivered);

    // The ZTE modem's report, broken recipient and all, reads as python-gsmmodem reads it:
    // message 28, received 14:29:27 and done 14:29:31 on 26 July 2013 at UTC+2.
    let Ok(Incoming::StatusReport(zte)) = &decoded[6] else {
        panic!("{:?}", decoded[6])
    };
    assert_eq!(zte.message_reference, 28);
    assert_eq!(zte.timestamp.to_string(), "13/07/26,14:29:27+08");
    assert_eq!(zte.discharge_time.to_string(), "13/07/26,14:29:31+08");
    assert_eq!(zte.recipient.to_string(), "+#08427829207025");
}

#[test]
fn every_capture_in_the_corpus_has_its_provenance_and_a_test() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            e.file_type()
                .unwrap()
                .is_dir()
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "esp-protocols-789",
            "lilygo-t-sim7600x-65",
            "modemmanager-simtech",
            "phonefront-simcom",
            "python-gsmmodem-pdu",
        ],
        "a capture without a test here"
    );
    for name in names {
        let provenance = std::fs::read_to_string(dir.join(&name).join("PROVENANCE.md")).unwrap();
        assert!(
            provenance.contains("https://github.com/"),
            "{name}: PROVENANCE.md names no repository or issue"
        );
        assert!(
            provenance.contains("Adapted:"),
            "{name}: PROVENANCE.md says nothing of what was adapted"
        );
        assert!(dir.join(&name).join("capture.txt").is_file(), "{name}");
    }
}
