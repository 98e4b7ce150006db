//! Status reports as smsd writes them into incoming/: the file for an SMS-STATUS-REPORT
//! that arrived as `+CDS` or was read from the SIM, observed with smsd 3.1.21 on the
//! simulator (`report = yes`, the report routed with `AT+CNMI=2,1,0,1,0`) and read in its
//! source (`split_type_2` and `explain_status` in pdu.c, `received2file` in smsd.c).
//!
//! This module owns [`render_report`] and [`explain_status`], pure functions. A report
//! file is named like a message's (`GSM1.XXXXXX`) and written by the inbox the same
//! exactly-once way; its eventhandler event is `REPORT`.
//!
//! ```text
//! From: 491721234567
//! From_TOA: 91 international, ISDN/telephone
//! From_SMSC: 31624000000
//! Sent: 26-12-07 13:39:41
//! Received: 26-12-07 13:39:44
//! Subject: GSM1
//! Modem: GSM1
//! IMSI: 262011234567890
//! IMEI: 351602000330570
//! Report: no
//! Alphabet: ISO
//! Length: 117
//! UDH: no
//!
//! SMS STATUS REPORT
//! Message_id: 1
//! Discharge_timestamp: 26-12-07 13:39:41
//! Status: 0,Ok,short message received by the SME
//! ```
//!
//! `From:` is the recipient of the message the report is about, `Sent:` the time the
//! service centre received that message, `Message_id:` its reference (the `Message_id:` of
//! its sent/ file and the third argument of its `SENT` event); no newline after the text.

use modem_core::pdu::StatusReport;

use super::incoming::{ModemIdentity, RenderedIncoming, SpoolTime, fnv1a64, header_lines};

/// smsd's words for a TP-ST value (`explain_status` in smstools 3.1.21's pdu.c).
pub fn explain_status(status: u8) -> &'static str {
    match status {
        0 => "Ok,short message received by the SME",
        1 => {
            "Ok,short message forwarded by the SC to the SME but the SC is unable to confirm delivery"
        }
        2 => "Ok,short message replaced by the SC",
        32 => "Still trying,congestion",
        33 => "Still trying,SME busy",
        34 => "Still trying,no response sendr SME",
        35 => "Still trying,service rejected",
        36 => "Still trying,quality of service not available",
        37 => "Still trying,error in SME",
        64 => "Error,remote procedure error",
        65 => "Error,incompatible destination",
        66 => "Error,connection rejected by SME",
        67 => "Error,not obtainable",
        68 => "Error,quality of service not available",
        69 => "Error,no interworking available",
        70 => "Error,SM validity period expired",
        71 => "Error,SM deleted by originating SME",
        72 => "Error,SM deleted by SC administration",
        73 => "Error,SM does not exist",
        96 => "Error,congestion",
        97 => "Error,SME busy",
        98 => "Error,no response sendr SME",
        99 => "Error,service rejected",
        100 => "Error,quality of service not available",
        101 => "Error,error in SME",
        48..=63 => "Temporary error, SC specific, unknown",
        80..=95 | 112..=127 => "Permanent error, SC specific, unknown",
        _ => "unknown",
    }
}

/// The text of a report file (after the blank line).
pub fn report_text(report: &StatusReport) -> String {
    format!(
        "SMS STATUS REPORT\nMessage_id: {}\nDischarge_timestamp: {}\nStatus: {},{}",
        report.message_reference,
        SpoolTime::from_pdu(&report.discharge_time),
        report.status.0,
        explain_status(report.status.0)
    )
}

/// The incoming file for `report` received on `modem` at `received`, and its fingerprint
/// (every byte but the `Received:` line, as for messages).
pub fn render_report(
    report: &StatusReport,
    modem: &ModemIdentity,
    received: SpoolTime,
) -> RenderedIncoming {
    let text = report_text(report);
    let (mut lines, received_index) = header_lines(
        &report.recipient,
        report.smsc.as_ref(),
        &report.timestamp,
        received,
        modem,
    );
    // smsd reads TP-SRQ where a message has TP-SRI (bit 5 of the first octet).
    lines.push(format!(
        "Report: {}",
        if report.about_command { "yes" } else { "no" }
    ));
    lines.push("Alphabet: ISO".to_string());
    lines.push(format!("Length: {}", text.len()));
    lines.push("UDH: no".to_string());
    let join = |skip: Option<usize>| -> Vec<u8> {
        let mut out: Vec<u8> = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            if Some(i) != skip {
                out.extend_from_slice(l.as_bytes());
                out.push(b'\n');
            }
        }
        out.push(b'\n');
        out.extend_from_slice(text.as_bytes());
        out
    };
    RenderedIncoming {
        fingerprint: fnv1a64(&join(Some(received_index))),
        bytes: join(None),
    }
}

/// The ledger key of a report read from a SIM slot (so a slot read again after a crash
/// is deleted, not written twice).
pub fn report_key(report: &StatusReport) -> u64 {
    fnv1a64(report_text(report).as_bytes()) ^ fnv1a64(report.recipient.value.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use modem_core::pdu::Incoming;

    /// The report the simulator sent in the run that showed smsd's format (the docs
    /// above): reference 1 to +491721234567, both times 26-12-07 13:39:41, delivered.
    const OBSERVED: &str = "07911326040000F006010C91947112325476622170319314006221703193140000";

    fn report(hex: &str) -> StatusReport {
        let Incoming::StatusReport(r) = Incoming::from_hex(hex).unwrap() else {
            panic!("not a status report");
        };
        r
    }

    #[test]
    fn a_report_file_is_byte_for_byte_the_one_smsd_wrote() {
        let modem = ModemIdentity {
            name: "GSM1".into(),
            imsi: Some("262011234567890".into()),
            imei: Some("351602000330570".into()),
        };
        let received = SpoolTime {
            year: 26,
            month: 12,
            day: 7,
            hour: 13,
            minute: 39,
            second: 44,
        };
        let r = render_report(&report(OBSERVED), &modem, received);
        assert_eq!(
            String::from_utf8(r.bytes).unwrap(),
            "From: 491721234567\nFrom_TOA: 91 international, ISDN/telephone\n\
             From_SMSC: 31624000000\nSent: 26-12-07 13:39:41\nReceived: 26-12-07 13:39:44\n\
             Subject: GSM1\nModem: GSM1\nIMSI: 262011234567890\nIMEI: 351602000330570\n\
             Report: no\nAlphabet: ISO\nLength: 117\nUDH: no\n\nSMS STATUS REPORT\n\
             Message_id: 1\nDischarge_timestamp: 26-12-07 13:39:41\n\
             Status: 0,Ok,short message received by the SME"
        );
        let later = render_report(
            &report(OBSERVED),
            &modem,
            SpoolTime {
                second: 59,
                ..received
            },
        );
        assert_eq!(
            r.fingerprint, later.fingerprint,
            "Received: is not part of it"
        );
    }

    #[test]
    fn a_real_network_report_of_a_failure_says_so_in_smsd_words() {
        // SMS Connexion, "SMS PDU formats demystified" (2009): status 0x49.
        let r = report("0791198994800721C6220C91197940005637902001917360229020019173602249");
        assert_eq!(
            report_text(&r),
            "SMS STATUS REPORT\nMessage_id: 34\nDischarge_timestamp: 09-02-10 19:37:06\n\
             Status: 73,Error,SM does not exist"
        );
        assert_eq!(explain_status(50), "Temporary error, SC specific, unknown");
        assert_eq!(explain_status(90), "Permanent error, SC specific, unknown");
        assert_eq!(explain_status(200), "unknown");
    }
}
