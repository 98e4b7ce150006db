//! Properties of the codec over generated inputs: any text within the part limit comes
//! back unchanged through encode and decode, every part fits an SMS, GSM 7-bit packing
//! round-trips at every septet offset, and no input whatever makes a decoder panic.
#![allow(clippy::unwrap_used)]

use modem_core::pdu::{
    Address, EncodeError, Incoming, MAX_USER_DATA_OCTETS, Submit, SubmitOptions, SubmitPlan,
    TextEncoding, gsm7,
};
use proptest::prelude::*;

/// Characters of the GSM 7-bit alphabet, extension table included, so that generated
/// texts often stay GSM 7-bit and reach the escape-pair boundaries.
fn gsm_char() -> impl Strategy<Value = char> {
    prop_oneof![
        8 => prop::char::range('a', 'z'),
        2 => prop::sample::select(vec![' ', '@', '£', 'Δ', 'ß', 'É', '\n', '\r', '¤', '§', '¿', 'à']),
        2 => prop::sample::select(vec!['€', '[', ']', '{', '}', '\\', '~', '^', '|', '\u{0C}']),
    ]
}

/// Texts of every kind: pure GSM, GSM with a stray non-GSM character, and any Unicode
/// (emoji and other characters beyond the BMP included).
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(gsm_char(), 0..700).prop_map(|v| v.into_iter().collect()),
        (
            prop::collection::vec(gsm_char(), 0..300),
            any::<char>(),
            0usize..300
        )
            .prop_map(|(v, c, at)| {
                let mut s: String = v.into_iter().collect();
                let at = s.char_indices().nth(at).map_or(s.len(), |(i, _)| i);
                s.insert(at, c);
                s
            }),
        prop::collection::vec(any::<char>(), 0..300).prop_map(|v| v.into_iter().collect()),
        prop::collection::vec(
            prop::sample::select(vec!['ж', '😀', 'a', '€', '中']),
            0..400
        )
        .prop_map(|v| v.into_iter().collect()),
    ]
}

fn destination() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\+[1-9][0-9]{6,14}",
        "0[1-9][0-9]{5,12}",
        "[0-9]{3,6}",
        "\\*[0-9]{2,4}#",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_text_within_the_limit_decodes_to_itself(
        text in any_text(),
        to in destination(),
        reference in any::<u8>(),
        status_report in any::<bool>(),
        flash in any::<bool>(),
    ) {
        let address = Address::parse_number(&to).unwrap();
        let options = SubmitOptions { status_report, flash, ..SubmitOptions::default() };
        let plan = match SubmitPlan::new(address.clone(), &text, reference, options) {
            Ok(plan) => plan,
            Err(EncodeError::TooManyParts { needed, limit }) => {
                prop_assert!(needed > usize::from(limit));
                return Ok(());
            }
            Err(e) => panic!("unexpected {e}"),
        };
        prop_assert_eq!(plan.encoding() == TextEncoding::Gsm7, gsm7::is_gsm7(&text));
        let mut decoded = String::new();
        for (i, part) in plan.encoded_parts().enumerate() {
            let part = part.unwrap();
            prop_assert_eq!(part.hex.len(), 2 + 2 * usize::from(part.tpdu_length));
            let submit = Submit::from_hex(&part.hex).unwrap();
            prop_assert_eq!(&submit.destination, &address);
            prop_assert_eq!(submit.status_report_requested, status_report);
            prop_assert_eq!(submit.tpdu_length, usize::from(part.tpdu_length));
            match submit.concatenation {
                None => prop_assert_eq!(plan.parts(), 1),
                Some(c) => {
                    prop_assert!(plan.parts() > 1);
                    prop_assert_eq!(c.total, plan.parts());
                    prop_assert_eq!(usize::from(c.sequence), i + 1);
                    prop_assert_eq!(c.reference, modem_core::pdu::ConcatReference::Eight(reference));
                }
            }
            decoded.push_str(submit.body.text().unwrap());
        }
        prop_assert_eq!(decoded, text);
    }

    #[test]
    fn every_part_fits_140_octets_of_user_data(text in any_text(), to in destination()) {
        let address = Address::parse_number(&to).unwrap();
        let options = SubmitOptions { max_parts: 255, ..SubmitOptions::default() };
        let plan = SubmitPlan::new(address, &text, 1, options).unwrap();
        for part in plan.encoded_parts() {
            let part = part.unwrap();
            let digits = to.trim_start_matches('+').len();
            // First octet, MR, address (length, TOA, digits), PID, DCS, UDL.
            let fixed = 1 + 1 + 2 + digits.div_ceil(2) + 1 + 1 + 1;
            let user_data = usize::from(part.tpdu_length) - fixed;
            prop_assert!(user_data <= MAX_USER_DATA_OCTETS, "{} octets", user_data);
        }
    }

    #[test]
    fn septet_packing_round_trips_at_every_offset(
        septets in prop::collection::vec(0u8..128, 0..=160),
        first in 0usize..=16,
        header in prop::collection::vec(any::<u8>(), 16),
    ) {
        let mut packed = [0u8; 160];
        // Septets before `first` stand for a header: their bits must survive.
        for (i, &h) in header.iter().take(first).enumerate() {
            gsm7::put_septet(&mut packed, i, h);
        }
        let used = gsm7::pack(&septets, first, &mut packed).unwrap();
        prop_assert_eq!(used, gsm7::packed_len(first + septets.len()));
        let mut back = vec![0u8; septets.len()];
        gsm7::unpack(&packed[..used], first, septets.len(), &mut back).unwrap();
        prop_assert_eq!(&back, &septets);
        for (i, &h) in header.iter().take(first).enumerate() {
            prop_assert_eq!(gsm7::get_septet(&packed, i), Some(h & 0x7F));
        }
    }

    #[test]
    fn random_octets_never_panic_a_decoder(octets in prop::collection::vec(any::<u8>(), 0..220)) {
        let _ = Incoming::from_octets(&octets);
        let _ = Submit::from_octets(&octets);
    }

    #[test]
    fn random_text_never_panics_the_hex_decoders(hex in "[0-9A-Fa-f]{0,400}|.{0,400}") {
        let _ = Incoming::from_hex(&hex);
        let _ = Submit::from_hex(&hex);
    }

    #[test]
    fn damaged_real_pdus_never_panic_and_truncation_is_always_an_error(
        which in 0usize..4,
        cut in 0usize..200,
        flips in prop::collection::vec((0usize..200, any::<u8>()), 0..6),
    ) {
        const PDUS: [&str; 4] = [
            "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07",
            "00440C919471123254760000624012410000800F050003420302E061391D44BFBF01",
            "00440C91947112325476000862401241000080110608041234020103A9006D006500670061",
            "0006070C9194711232547662401241000080624012410000804507000002EF35",
        ];
        let hex = PDUS[which];
        let octets: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let cut = cut.min(octets.len());
        // A status report may legitimately end right after TP-ST (octet 26 of this one):
        // the parameter indicator and what it announces are optional.
        let optional_tail = which == 3 && cut == 26;
        if cut < octets.len() && !optional_tail {
            prop_assert!(Incoming::from_octets(&octets[..cut]).is_err(), "cut at {}", cut);
        }
        let mut damaged = octets.clone();
        for (at, value) in flips {
            if let Some(o) = damaged.get_mut(at) {
                *o = value;
            }
        }
        let _ = Incoming::from_octets(&damaged);
        let _ = Submit::from_octets(&damaged);
    }
}
