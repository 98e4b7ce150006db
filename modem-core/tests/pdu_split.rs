//! How texts are cut into parts: where the 160/153 septet and 70/67 unit limits fall,
//! that an escape pair or a surrogate pair is never cut, and that the part limit refuses a
//! text before anything is sent.
#![allow(clippy::unwrap_used)]

use modem_core::pdu::{
    Address, ConcatReference, Concatenation, EncodeError, GSM7_PART_SEPTETS, MAX_USER_DATA_OCTETS,
    Submit, SubmitOptions, SubmitPlan, TextEncoding,
};

fn plan(text: &str) -> SubmitPlan<'_> {
    let to = Address::parse_number("+491721234567").unwrap();
    SubmitPlan::new(to, text, 7, SubmitOptions::default()).unwrap()
}

/// Decodes every part and returns (concatenation, text) per part.
fn sent_parts(plan: &SubmitPlan<'_>) -> Vec<(Option<Concatenation>, String)> {
    plan.encoded_parts()
        .map(|p| {
            let p = p.unwrap();
            let s = Submit::from_hex(&p.hex).unwrap();
            assert_eq!(s.tpdu_length, usize::from(p.tpdu_length));
            (s.concatenation, s.body.text().unwrap().to_string())
        })
        .collect()
}

#[test]
fn exactly_160_septets_is_one_message_and_161_is_two() {
    let text = "a".repeat(160);
    let p = plan(&text);
    assert_eq!(p.parts(), 1);
    let sent = sent_parts(&p);
    assert_eq!(sent[0].0, None);
    assert_eq!(sent[0].1.len(), 160);

    let text = "a".repeat(161);
    let p = plan(&text);
    assert_eq!(p.parts(), 2);
    let sent = sent_parts(&p);
    assert_eq!(sent[0].1.len(), 153);
    assert_eq!(sent[1].1.len(), 8);
    assert_eq!(
        sent[1].0,
        Some(Concatenation {
            reference: ConcatReference::Eight(7),
            total: 2,
            sequence: 2
        })
    );
}

#[test]
fn euro_signs_count_two_septets_each() {
    // 80 euro signs are 160 septets: one message. 81 are 162: two parts.
    assert_eq!(plan(&"€".repeat(80)).parts(), 1);
    let text = "€".repeat(81);
    let p = plan(&text);
    assert_eq!((p.parts(), p.encoding()), (2, TextEncoding::Gsm7));
}

#[test]
fn an_escape_pair_at_the_boundary_moves_whole_to_the_next_part() {
    // 152 septets of 'a' then '€' (2 septets) would straddle septet 153.
    let text = format!("{}€tail{}", "a".repeat(152), "b".repeat(20));
    let p = plan(&text);
    let sent = sent_parts(&p);
    assert_eq!(sent[0].1, "a".repeat(152));
    assert!(sent[1].1.starts_with("€tail"));
    assert_eq!(
        sent.iter().map(|(_, t)| t.as_str()).collect::<String>(),
        text
    );
}

#[test]
fn exactly_70_ucs2_units_is_one_message_and_71_is_two() {
    assert_eq!(plan(&"ж".repeat(70)).parts(), 1);
    let text = "ж".repeat(71);
    let p = plan(&text);
    assert_eq!((p.parts(), p.encoding()), (2, TextEncoding::Ucs2));
    let sent = sent_parts(&p);
    assert_eq!(sent[0].1.chars().count(), 67);
    assert_eq!(sent[1].1.chars().count(), 4);
}

#[test]
fn a_surrogate_pair_at_the_boundary_moves_whole_to_the_next_part() {
    // 66 units then an emoji (2 units) would straddle unit 67.
    let text = format!("{}😀{}", "ж".repeat(66), "ж".repeat(10));
    let sent = sent_parts(&plan(&text));
    assert_eq!(sent[0].1, "ж".repeat(66));
    assert!(sent[1].1.starts_with('😀'));
    assert_eq!(
        sent.iter().map(|(_, t)| t.as_str()).collect::<String>(),
        text
    );
}

#[test]
fn one_character_outside_gsm_makes_the_whole_text_ucs2() {
    assert_eq!(plan("Grüße aus Köln").encoding(), TextEncoding::Gsm7);
    assert_eq!(plan("Ça va?").encoding(), TextEncoding::Gsm7);
    assert_eq!(plan("ça va?").encoding(), TextEncoding::Ucs2);
    assert_eq!(plan("Привет").encoding(), TextEncoding::Ucs2);
    assert_eq!(plan("ok 👍").encoding(), TextEncoding::Ucs2);
}

#[test]
fn a_400_character_text_goes_in_three_parts_that_say_so() {
    let text: String = "The quick brown fox jumps over the lazy dog. ".repeat(9)[..400].to_string();
    let p = plan(&text);
    assert_eq!(p.parts(), 3);
    let sent = sent_parts(&p);
    for (i, (concat, _)) in sent.iter().enumerate() {
        assert_eq!(
            *concat,
            Some(Concatenation {
                reference: ConcatReference::Eight(7),
                total: 3,
                sequence: u8::try_from(i + 1).unwrap()
            })
        );
    }
    assert_eq!(
        sent.iter().map(|(_, t)| t.as_str()).collect::<String>(),
        text
    );
    for part in p.encoded_parts() {
        let part = part.unwrap();
        // 1 first octet + 1 MR + 9 address + PID + DCS + UDL + 140 user data.
        assert!(usize::from(part.tpdu_length) <= 13 + MAX_USER_DATA_OCTETS + 1);
    }
}

#[test]
fn a_text_beyond_the_part_limit_is_refused_before_sending() {
    let to = Address::parse_number("+491721234567").unwrap();
    let text = "a".repeat(GSM7_PART_SEPTETS * 10 + 1);
    let err = SubmitPlan::new(to.clone(), &text, 0, SubmitOptions::default()).unwrap_err();
    assert_eq!(
        err,
        EncodeError::TooManyParts {
            needed: 11,
            limit: 10
        }
    );
    assert_eq!(
        err.to_string(),
        "the text needs 11 SMS parts, more than the limit of 10"
    );

    let options = SubmitOptions {
        max_parts: 11,
        ..SubmitOptions::default()
    };
    assert_eq!(
        SubmitPlan::new(to.clone(), &text, 0, options)
            .unwrap()
            .parts(),
        11
    );

    let options = SubmitOptions {
        max_parts: 0,
        ..SubmitOptions::default()
    };
    assert_eq!(
        SubmitPlan::new(to, "x", 0, options).unwrap_err(),
        EncodeError::InvalidPartLimit { limit: 0 }
    );
}

#[test]
fn a_huge_text_reports_how_many_parts_it_would_need() {
    let to = Address::parse_number("+491721234567").unwrap();
    let text = "a".repeat(153 * 300);
    let options = SubmitOptions {
        max_parts: 255,
        ..SubmitOptions::default()
    };
    assert_eq!(
        SubmitPlan::new(to, &text, 0, options).unwrap_err(),
        EncodeError::TooManyParts {
            needed: 300,
            limit: 255
        }
    );
}

#[test]
fn an_empty_text_is_one_empty_message() {
    let p = plan("");
    assert_eq!(p.parts(), 1);
    let sent = sent_parts(&p);
    assert_eq!(sent, vec![(None, String::new())]);
}

#[test]
fn asking_for_a_part_beyond_the_plan_is_an_error() {
    let p = plan("hello");
    assert_eq!(
        p.encode_part(1).unwrap_err(),
        EncodeError::PartOutOfRange { index: 1, parts: 1 }
    );
}

#[test]
fn forced_ucs2_sends_plain_ascii_as_ucs2() {
    let to = Address::parse_number("+4917").unwrap();
    let options = SubmitOptions {
        force_ucs2: true,
        ..SubmitOptions::default()
    };
    let p = SubmitPlan::new(to, "Hi", 0, options).unwrap();
    assert_eq!(p.encoding(), TextEncoding::Ucs2);
    assert_eq!(p.encoding().as_str(), "UCS2");
    assert!(
        p.encode_part(0).unwrap().hex.ends_with("00080400480069"),
        "UDL 4, then H i"
    );
    let s = Submit::from_hex(&p.encode_part(0).unwrap().hex).unwrap();
    assert_eq!(s.body.text(), Some("Hi"));
    assert_eq!(s.data_coding.octet, 0x08);
}

#[test]
fn a_hand_built_destination_is_checked_like_a_parsed_one() {
    use modem_core::pdu::TypeOfAddress;
    let mut to = Address::parse_number("+4917").unwrap();
    to.value = heapless::String::try_from("49 17").unwrap();
    assert_eq!(
        SubmitPlan::new(to, "x", 0, SubmitOptions::default()).unwrap_err(),
        EncodeError::InvalidDestinationCharacter {
            position: 2,
            character: ' '
        }
    );
    let alphanumeric = Address {
        type_of_address: TypeOfAddress::ALPHANUMERIC,
        value: heapless::String::try_from("1234").unwrap(),
    };
    assert_eq!(
        SubmitPlan::new(alphanumeric, "x", 0, SubmitOptions::default()).unwrap_err(),
        EncodeError::AlphanumericDestination
    );
}
