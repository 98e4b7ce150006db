//! Encode then decode any UTF-8 text: `SubmitPlan` with arbitrary options and destination,
//! every part encoded, each part decoded again by `Submit::from_cmgs` with the length that
//! `AT+CMGS=<len>` would carry.
//!
//! Checks: every encoded part fits a PDU and decodes; the parts, joined, are the text; the
//! destination, the alphabet, the concatenation header (reference, total, sequence), the
//! class and the status-report flag come back as planned; a plan that is refused says why.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use modem_core::pdu::{
    Address, Alphabet, ConcatReference, MessageClass, SubmitOptions, SubmitPlan, TextEncoding,
    ValidityPeriod,
};

#[derive(Debug, Arbitrary)]
struct Input {
    text: String,
    number: String,
    reference: u8,
    validity: Option<u8>,
    status_report: bool,
    flash: bool,
    force_ucs2: bool,
    max_parts: u8,
}

fuzz_target!(|input: Input| {
    let Ok(to) = Address::parse_number(&input.number) else {
        return;
    };
    let options = SubmitOptions {
        validity: input.validity.map(ValidityPeriod),
        status_report: input.status_report,
        flash: input.flash,
        force_ucs2: input.force_ucs2,
        max_parts: input.max_parts,
    };
    let plan = match SubmitPlan::new(to.clone(), &input.text, input.reference, options) {
        Ok(plan) => plan,
        Err(error) => {
            std::hint::black_box(error.to_string());
            return;
        }
    };
    let parts = plan.parts();
    assert!(parts >= 1 && parts <= input.max_parts.max(1));
    let alphabet = match plan.encoding() {
        TextEncoding::Gsm7 => Alphabet::Gsm7,
        TextEncoding::Ucs2 => Alphabet::Ucs2,
    };
    if input.force_ucs2 {
        assert_eq!(plan.encoding(), TextEncoding::Ucs2);
    }
    let mut joined = String::new();
    for (index, part) in plan.encoded_parts().enumerate() {
        let part = match part {
            Ok(part) => part,
            Err(error) => panic!("part {index} of a planned text failed: {error}"),
        };
        let submit =
            match modem_core::pdu::Submit::from_cmgs(&part.hex, usize::from(part.tpdu_length)) {
                Ok(submit) => submit,
                Err(error) => panic!("part {index} does not decode: {error}\n{}", part.hex),
            };
        assert_eq!(submit.destination, to);
        assert_eq!(submit.data_coding.alphabet, alphabet);
        assert_eq!(submit.status_report_requested, input.status_report);
        assert_eq!(
            submit.data_coding.class == Some(MessageClass::Class0),
            input.flash,
            "class 0 exactly when flash"
        );
        match submit.concatenation {
            None => assert_eq!(parts, 1),
            Some(concat) => {
                assert!(parts > 1, "a one-part text carries no concatenation header");
                assert_eq!(concat.reference, ConcatReference::Eight(input.reference));
                assert_eq!(concat.total, parts);
                assert_eq!(usize::from(concat.sequence), index + 1);
            }
        }
        match submit.body.text() {
            Some(text) => joined.push_str(text),
            None => panic!("part {index} came back as binary data"),
        }
    }
    assert_eq!(joined, input.text, "the parts do not join to the text");
});
