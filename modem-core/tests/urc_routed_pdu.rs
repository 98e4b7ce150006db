//! `+CDS` and `+CMT`: URCs whose PDU follows on the next line. Through atat's real
//! `Ingress` with the SIM7600 digester, in every chunking: the two lines are one URC, the
//! PDU line is never folded into the reply of the command in flight, and the PDU decodes.
//!
//! The status report is a real one, published with its `+CDS: 25` header on SMS
//! Connexion's "SMS PDU formats demystified"
//! (https://smsconnexion.wordpress.com/2009/02/12/sms-pdu-formats-demystified/): a message
//! to +919704006573 of 2009-02-10 19:37:06 +05:30, status 0x49.
#![allow(clippy::unwrap_used)]

use atat::{AtatIngress, Ingress, Response, ResponseSlot, UrcChannel};
use modem_core::digest::{CommandTracker, INGRESS_BUF_SIZE, Sim7600Digester};
use modem_core::pdu::{Incoming, StatusOutcome};
use modem_core::urc::{Urc, UrcError};

type Reply = Response<INGRESS_BUF_SIZE>;

const REPORT_PDU: &str = "0791198994800721C6220C91197940005637902001917360229020019173602249";
/// An SMS-DELIVER ("How are you?" from +31641600986), 30 octets after the SMSC part.
const DELIVER_PDU: &str =
    "07911326040000F0040B911346610089F60000621142507155000CC8F71D14969741F977FD07";

#[derive(Debug, Default)]
struct Seen {
    replies: Vec<Reply>,
    urcs: Vec<Urc>,
}

/// Sends `command`, then feeds `bytes` cut at every position in `cuts` (byte offsets).
fn feed(command: &[u8], bytes: &[u8], cuts: &[usize]) -> Seen {
    let tracker = CommandTracker::new();
    let slot = ResponseSlot::<INGRESS_BUF_SIZE>::new();
    let channel = UrcChannel::<Urc, 16, 1>::new();
    let mut subscription = channel.subscribe().unwrap();
    let mut buf = [0u8; INGRESS_BUF_SIZE];
    let mut ingress = Ingress::new(
        Sim7600Digester::with_tracker(&tracker),
        &mut buf,
        &slot,
        &channel,
    );
    let mut seen = Seen::default();
    if !command.is_empty() {
        tracker.command_sent(command);
    }
    let mut from = 0;
    for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
        let chunk = &bytes[from..cut];
        from = cut;
        assert_eq!(ingress.try_write(chunk).unwrap(), chunk.len());
        if let Some(reply) = slot.try_get() {
            seen.replies.push(reply.clone());
            drop(reply);
            slot.reset();
        }
        while let Some(urc) = subscription.try_next_message_pure() {
            seen.urcs.push(urc);
        }
    }
    seen
}

fn every_cut(command: &[u8], bytes: &[u8], check: impl Fn(&Seen)) {
    check(&feed(command, bytes, &[]));
    for cut in 1..bytes.len() {
        check(&feed(command, bytes, &[cut]));
    }
}

fn status_report(urc: &Urc) -> modem_core::pdu::StatusReport {
    let Urc::StatusReport(routed) = urc else {
        panic!("not a +CDS: {urc:?}");
    };
    assert_eq!(routed.tpdu_length, 25);
    let Incoming::StatusReport(report) = routed.decode().unwrap() else {
        panic!("not a status report");
    };
    report
}

#[test]
fn a_real_status_report_decodes_with_its_reference_recipient_times_and_status() {
    let Incoming::StatusReport(r) = Incoming::from_cmgr(REPORT_PDU, 25).unwrap() else {
        panic!("not a status report");
    };
    assert_eq!(r.message_reference, 0x22);
    assert_eq!(r.recipient.to_string(), "+919704006573");
    let t = r.timestamp;
    assert_eq!(
        (t.year, t.month, t.day, t.hour, t.minute, t.second),
        (9, 2, 10, 19, 37, 6)
    );
    assert_eq!(t.utc_offset_minutes(), 330);
    assert_eq!(r.discharge_time, r.timestamp);
    assert_eq!(r.status.0, 0x49);
    assert_eq!(r.status.outcome(), StatusOutcome::Failed);
}

#[test]
fn an_idle_cds_and_its_pdu_line_are_one_urc_in_every_chunking() {
    let bytes = format!("\r\n+CDS: 25\r\n{REPORT_PDU}\r\n");
    every_cut(b"", bytes.as_bytes(), |seen| {
        assert!(seen.replies.is_empty(), "{seen:?}");
        assert_eq!(seen.urcs.len(), 1, "{seen:?}");
        assert_eq!(status_report(&seen.urcs[0]).message_reference, 0x22);
    });
}

#[test]
fn a_cds_inside_a_reply_is_not_folded_into_it() {
    // +CMGS answers, the report of an earlier message arrives before the OK.
    let bytes = format!("\r\n+CMGS: 41\r\n\r\n+CDS: 25\r\n{REPORT_PDU}\r\n\r\nOK\r\n");
    every_cut(b"\x1a", bytes.as_bytes(), |seen| {
        assert_eq!(seen.replies.len(), 1, "{seen:?}");
        let Response::Ok(text) = &seen.replies[0] else {
            panic!("{seen:?}");
        };
        assert_eq!(text.as_slice(), b"+CMGS: 41", "{seen:?}");
        assert_eq!(seen.urcs.len(), 1, "{seen:?}");
        status_report(&seen.urcs[0]);
    });
    // And before the reply's first line: the PDU line is not taken for the reply either.
    let bytes = format!("\r\n+CDS: 25\r\n{REPORT_PDU}\r\n\r\n+CSQ: 20,99\r\n\r\nOK\r\n");
    every_cut(b"AT+CSQ\r", bytes.as_bytes(), |seen| {
        let Response::Ok(text) = &seen.replies[0] else {
            panic!("{seen:?}");
        };
        assert_eq!(text.as_slice(), b"+CSQ: 20,99");
        assert_eq!(seen.urcs.len(), 1);
    });
}

#[test]
fn a_cmt_with_or_without_alpha_carries_its_message() {
    for header in ["+CMT: ,30", "+CMT: \"Alice, work\",30"] {
        let bytes = format!("\r\n{header}\r\n{DELIVER_PDU}\r\n");
        every_cut(b"", bytes.as_bytes(), |seen| {
            assert_eq!(seen.urcs.len(), 1, "{header}: {seen:?}");
            let Urc::RoutedMessage(routed) = &seen.urcs[0] else {
                panic!("{seen:?}");
            };
            let Incoming::Deliver(sms) = routed.decode().unwrap() else {
                panic!("not a deliver");
            };
            assert_eq!(sms.text(), Some("How are you?"));
        });
    }
}

#[test]
fn a_cmti_is_still_a_cmti_and_a_bad_routed_pdu_is_malformed_not_a_panic() {
    assert!(matches!(
        Urc::parse(b"+CMTI: \"SM\",3"),
        Some(Urc::NewMessage(_))
    ));
    for (line, reason) in [
        (&b"+CDS: 25"[..], "no PDU line after the header"),
        (b"+CDS: x\r\n00", "length is not a number 0..=65535"),
        (b"+CDS: 25\r\n0G", "the PDU line is not hex"),
        (
            b"+CDS: 25\r\n000",
            "the PDU line has an odd number of hex digits",
        ),
    ] {
        assert_eq!(
            Urc::try_parse(line),
            Err(UrcError::Malformed {
                urc: "+CDS",
                reason
            }),
            "{line:?}"
        );
    }
    // A length that does not match the PDU parses, and its decode says so.
    let Some(Urc::StatusReport(r)) = Urc::parse(format!("+CDS: 24\r\n{REPORT_PDU}").as_bytes())
    else {
        panic!()
    };
    assert!(r.decode().is_err());
}

#[test]
fn a_urc_fits_the_size_the_urc_channel_is_documented_with() {
    // resources.rs: URC_CAPACITY costs that many times this (the PDU of +CDS/+CMT).
    let size = core::mem::size_of::<Urc>();
    assert!(size <= 224, "a Urc takes {size} bytes");
}
