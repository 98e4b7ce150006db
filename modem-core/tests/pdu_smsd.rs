//! PDUs from the real smsd (smstools 3.1.21, Debian): what it sent through `AT+CMGS`
//! for outgoing files with `Alphabet: UTF`, and the DELIVERs it read through `AT+CMGR`,
//! captured by running `/usr/sbin/smsd` against a pty modem (docs/pdu.md says how).
//! smsd's SUBMITs must decode to the text it was asked to send, and our encoder, given
//! smsd's settings (validity 0xFF, its concatenation reference), must produce the very
//! same octets; smsd's incoming files must show what our decoder reads.
#![allow(clippy::unwrap_used)]

use modem_core::pdu::{
    Address, ConcatReference, Incoming, NumberType, Submit, SubmitOptions, SubmitPlan,
    TextEncoding, Validity, ValidityPeriod,
};

/// An outgoing file smsd sent: the text, `To:`, and each `AT+CMGS=<len>` with its PDU.
struct Sent {
    text: &'static str,
    to: &'static str,
    parts: &'static [(u8, &'static str)],
}

const ASCII: Sent = Sent {
    text: "Hello Stefan, how are you?",
    to: "491721234567",
    parts: &[(
        37,
        "0011000C919471123254760000FF1AC8329BFD064DE96573D8CD02A1DF7750585E06E5DFF51F",
    )],
};
const CYRILLIC: Sent = Sent {
    text: "Привет, как дела?",
    to: "491721234567",
    parts: &[(
        48,
        "0011000C919471123254760008FF22041F04400438043204350442002C0020043A0430043A002004340435043B0430003F",
    )],
};
const EXTENSION: Sent = Sent {
    text: "Price: 5€ [a] {b} ~c^ |d| \\e",
    to: "491721234567",
    parts: &[(
        48,
        "0011000C919471123254760000FF2650797A5CD6816A9B3268C30B6F7CA00D4ABC498136BDF18602DA00C91B2068F32A03",
    )],
};
const LATIN_GSM: Sent = Sent {
    text: "Grüße aus Köln: Ä Ö Ü ß é è ñ å",
    to: "491721234567",
    parts: &[(
        42,
        "0011000C919471123254760000FF1F47B9DF530685EB73D092CF76EB405B1017E4057940051001D4073D00",
    )],
};
const LONG_400: Sent = Sent {
    text: "The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy ",
    to: "491721234567",
    parts: &[
        (
            154,
            "0051000C919471123254760000FFA0050003700301A8E832285E4F8FD720B1FC7D7783CC6F3C485D6FC3E7A0B7BD2C07D1D165103BACCF83C8EFB30B44459741F17A7ABC0689E5EFBB1B647EE341EA7A1B3E07BDED6539888E2E83D8617D1E447E9F5D202ABA0C8AD7D3E335482C7FDFDD20F31B0F52D7DBF039E86D2FCB41747419C40EEBF320F2FBEC0251D16550BC9E1EAF4162F9FBEE0699DF",
        ),
        (
            154,
            "0051000C919471123254760000FFA0050003700302F02075BD0D9F83DEF6B21C44479741ECB03E0F22BFCF2E10155D06C5EBE9F11A2496BFEF6E90F98D07A9EB6DF81CF4B697E5203ABA0C6287F57910F97D7681A8E832285E4F8FD720B1FC7D7783CC6F3C485D6FC3E7A0B7BD2C07D1D165103BACCF83C8EFB30B44459741F17A7ABC0689E5EFBB1B647EE341EA7A1B3E07BDED6539888E2E83D8",
        ),
        (
            103,
            "0051000C919471123254760000FF65050003700303C2FA3C88FC3EBB4054741914AFA7C76B9058FEBEBB41E6371EA4AEB7E173D0DB5E9683E8E832881DD6E741E4F7D905A2A2CBA0783D3D5E83C4F2F7DD0D32BFF12075BD0D9F83DEF6B21C44479741ECB03E0F02",
        ),
    ],
};
const LONG_CYRILLIC: Sent = Sent {
    text: "Съешь же ещё этих мягких французских булок, да выпей чаю. Съешь же ещё этих мягких французских булок, да выпей чаю. Съешь же ещё этих мягких французских булок, да выпей ч",
    to: "491721234567",
    parts: &[
        (
            154,
            "0051000C919471123254760008FF8C0500037103010421044A04350448044C00200436043500200435044904510020044D0442043804450020043C044F0433043A043804450020044404400430043D0446044304370441043A04380445002004310443043B043E043A002C00200434043000200432044B043F04350439002004470430044E002E00200421044A04350448044C0020043604350020",
        ),
        (
            154,
            "0051000C919471123254760008FF8C0500037103020435044904510020044D0442043804450020043C044F0433043A043804450020044404400430043D0446044304370441043A04380445002004310443043B043E043A002C00200434043000200432044B043F04350439002004470430044E002E00200421044A04350448044C00200436043500200435044904510020044D0442043804450020",
        ),
        (
            92,
            "0051000C919471123254760008FF4E050003710303043C044F0433043A043804450020044404400430043D0446044304370441043A04380445002004310443043B043E043A002C00200434043000200432044B043F0435043900200447",
        ),
    ],
};
/// `To: s22222`: smsd's prefix for a short number, sent with type unknown (0x81).
const SHORT_CODE: Sent = Sent {
    text: "short code",
    to: "22222",
    parts: &[(20, "00110005812222F20000FF0A73F45B4E078DDFE432")],
};

const FAITHFUL: [&Sent; 7] = [
    &ASCII,
    &CYRILLIC,
    &EXTENSION,
    &LATIN_GSM,
    &LONG_400,
    &LONG_CYRILLIC,
    &SHORT_CODE,
];

/// Decodes every part of `sent`, checking what each part's header and length say.
fn decode_sent(sent: &Sent) -> String {
    let total = sent.parts.len();
    let mut text = String::new();
    for (i, (len, hex)) in sent.parts.iter().enumerate() {
        let submit = Submit::from_hex(hex).unwrap();
        assert_eq!(
            submit.tpdu_length,
            usize::from(*len),
            "AT+CMGS length of {hex}"
        );
        assert_eq!(submit.destination.value.as_str(), sent.to);
        assert_eq!(
            submit.validity,
            Some(Validity::Relative(ValidityPeriod::MAX))
        );
        assert_eq!(submit.smsc, None);
        match submit.concatenation {
            None => assert_eq!(total, 1),
            Some(c) => {
                assert_eq!(
                    (usize::from(c.total), usize::from(c.sequence)),
                    (total, i + 1)
                );
            }
        }
        text.push_str(submit.body.text().unwrap());
    }
    text
}

#[test]
fn every_pdu_smsd_sent_decodes_to_the_text_it_was_asked_to_send() {
    for sent in FAITHFUL {
        assert_eq!(decode_sent(sent), sent.text);
    }
}

#[test]
fn smsd_sends_international_numbers_as_0x91_and_short_numbers_as_0x81() {
    let s = Submit::from_hex(ASCII.parts[0].1).unwrap();
    assert_eq!(s.destination.type_of_address.to_octet(), 0x91);
    let s = Submit::from_hex(SHORT_CODE.parts[0].1).unwrap();
    assert_eq!(
        s.destination.type_of_address.number_type,
        NumberType::Unknown
    );
}

#[test]
fn our_encoder_given_smsd_settings_produces_smsd_octets_exactly() {
    for sent in FAITHFUL {
        let first = Submit::from_hex(sent.parts[0].1).unwrap();
        let reference = match first.concatenation.map(|c| c.reference) {
            Some(ConcatReference::Eight(r)) => r,
            Some(other) => panic!("smsd used {other:?}"),
            None => 0,
        };
        let options = SubmitOptions {
            validity: Some(ValidityPeriod::MAX),
            ..SubmitOptions::default()
        };
        let plan = SubmitPlan::new(first.destination, sent.text, reference, options).unwrap();
        assert_eq!(usize::from(plan.parts()), sent.parts.len(), "{}", sent.text);
        for (ours, (len, theirs)) in plan.encoded_parts().zip(sent.parts) {
            let ours = ours.unwrap();
            assert_eq!(ours.hex.as_str(), *theirs, "{}", sent.text);
            assert_eq!(ours.tpdu_length, *len);
        }
    }
}

#[test]
fn smsd_cuts_a_text_at_its_first_emoji_where_we_send_a_surrogate_pair() {
    // Asked for "Party 🎉 tonight 😀", smsd 3.1.21 sent only "Party ": its UTF-8 to UCS-2
    // conversion stops at the first character beyond the BMP.
    let smsd = Submit::from_hex("0011000C919471123254760008FF0C005000610072007400790020").unwrap();
    assert_eq!(smsd.body.text(), Some("Party "));

    let to = Address::parse_number("+491721234567").unwrap();
    let plan = SubmitPlan::new(to, "Party 🎉 tonight 😀", 0, SubmitOptions::default()).unwrap();
    assert_eq!(plan.encoding(), TextEncoding::Ucs2);
    let ours = Submit::from_hex(&plan.encode_part(0).unwrap().hex).unwrap();
    assert_eq!(ours.body.text(), Some("Party 🎉 tonight 😀"));
}

#[test]
fn smsd_replaces_a_small_c_cedilla_where_we_switch_to_ucs2() {
    // Asked for "Ça va? ça va très bien, merci!" smsd sent GSM 7-bit, replacing the
    // 'ç' missing from the GSM alphabet by its capital ("optical replacement",
    // cs_convert_optical). We keep the text exact and send UCS-2.
    let smsd = Submit::from_hex(
        "0011000C919471123254760000FF1E8930C81EFE811261903D0CA2CB097390385D76B340EDB27C9C0E01",
    )
    .unwrap();
    assert_eq!(smsd.body.text(), Some("Ça va? Ça va très bien, merci!"));

    let to = Address::parse_number("+491721234567").unwrap();
    let text = "Ça va? ça va très bien, merci!";
    let plan = SubmitPlan::new(to, text, 0, SubmitOptions::default()).unwrap();
    assert_eq!(plan.encoding(), TextEncoding::Ucs2);
}

/// DELIVERs served to smsd through `AT+CMGR`, and the headers and text of the incoming
/// file it wrote for each.
#[test]
fn what_smsd_wrote_for_received_pdus_is_what_we_decode() {
    let cases: [(&str, &str, &str, &str, &str); 4] = [
        (
            "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07",
            "31641600986",
            "91",
            "02-08-26 19:37:41",
            "How are you?",
        ),
        (
            "00040BD0CDBC30EC5E03000062401241000000014C",
            "MyBank",
            "D0",
            "26-04-21 14:00:00",
            "L",
        ),
        (
            "000404919471000062401241000080061BD4A6BC4901",
            "4917",
            "91",
            "26-04-21 14:00:00",
            "{€}",
        ),
        (
            "00040491947100006240124100000A0141",
            "4917",
            "91",
            "26-04-21 14:00:00",
            "A",
        ),
    ];
    for (hex, from, toa, sent, text) in cases {
        let Incoming::Deliver(sms) = Incoming::from_hex(hex).unwrap() else {
            panic!("expected a DELIVER");
        };
        assert_eq!(sms.originator.value.as_str(), from);
        assert_eq!(
            format!("{:02X}", sms.originator.type_of_address.to_octet()),
            toa
        );
        let t = sms.timestamp;
        let shown = format!(
            "{:02}-{:02}-{:02} {:02}:{:02}:{:02}",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        );
        assert_eq!(shown, sent);
        assert_eq!(sms.text(), Some(text));
    }
}
