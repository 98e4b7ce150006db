//! The texts of `+CME ERROR` and `+CMS ERROR`, mapped to their numeric codes.
//!
//! This module owns the two tables of error texts (3GPP TS 27.007 §9.2, TS 27.005 §3.2.5)
//! the digester consults when a modem answers in words rather than numbers (`AT+CMEE=2`, or
//! a modem that ignores `AT+CMEE=1` for some commands). atat's `CmeError::from_msg` /
//! `CmsError::from_msg` know only a few texts, capitalised, and compare them exactly, while
//! the SIM7600 manual prints the standards' texts in lower case (`operation not allowed`).
//! Here every text the standards list is matched ASCII-case-insensitively, in place, with no
//! copy; atat's own spellings (`SMS service reserved`, `No network`) are kept as aliases so
//! nothing it recognised is lost.

/// `+CME ERROR` texts (TS 27.007 §9.2.1 and the GPRS/EPS codes of §9.2.2 that atat names),
/// with atat's `from_msg` spellings as aliases.
const CME_TEXTS: &[(&str, u16)] = &[
    ("phone failure", 0),
    ("no connection to phone", 1),
    ("phone-adaptor link reserved", 2),
    ("operation not allowed", 3),
    ("operation not supported", 4),
    ("PH-SIM PIN required", 5),
    ("PH-FSIM PIN required", 6),
    ("PH-FSIM PUK required", 7),
    ("SIM not inserted", 10),
    ("SIM PIN required", 11),
    ("SIM PUK required", 12),
    ("SIM failure", 13),
    ("SIM busy", 14),
    ("SIM wrong", 15),
    ("incorrect password", 16),
    ("SIM PIN2 required", 17),
    ("SIM PUK2 required", 18),
    ("memory full", 20),
    ("invalid index", 21),
    ("not found", 22),
    ("memory failure", 23),
    ("text string too long", 24),
    ("invalid characters in text string", 25),
    ("dial string too long", 26),
    ("invalid characters in dial string", 27),
    ("no network service", 30),
    ("network timeout", 31),
    ("network not allowed - emergency calls only", 32),
    ("network personalization PIN required", 40),
    ("network personalization PUK required", 41),
    ("network subset personalization PIN required", 42),
    ("network subset personalization PUK required", 43),
    ("service provider personalization PIN required", 44),
    ("service provider personalization PUK required", 45),
    ("corporate personalization PIN required", 46),
    ("corporate personalization PUK required", 47),
    ("incorrect parameters", 50),
    ("unknown", 100),
    ("illegal MS", 103),
    ("illegal ME", 106),
    ("GPRS services not allowed", 107),
    ("PLMN not allowed", 111),
    ("location area not allowed", 112),
    ("roaming not allowed in this location area", 113),
    ("service option not supported", 132),
];

/// `+CMS ERROR` texts (TS 27.005 §3.2.5), with atat's `from_msg` spellings as aliases.
const CMS_TEXTS: &[(&str, u16)] = &[
    ("ME failure", 300),
    ("SMS service of ME reserved", 301),
    ("SMS service reserved", 301),
    ("operation not allowed", 302),
    ("operation not supported", 303),
    ("invalid PDU mode parameter", 304),
    ("invalid text mode parameter", 305),
    ("SIM not inserted", 310),
    ("SIM PIN required", 311),
    ("PH-SIM PIN required", 312),
    ("SIM failure", 313),
    ("SIM busy", 314),
    ("SIM wrong", 315),
    ("SIM PUK required", 316),
    ("SIM PIN2 required", 317),
    ("SIM PUK2 required", 318),
    ("memory failure", 320),
    ("invalid memory index", 321),
    ("invalid index", 321),
    ("memory full", 322),
    ("SMSC address unknown", 330),
    ("no network service", 331),
    ("no network", 331),
    ("network timeout", 332),
    ("no +CNMA acknowledgement expected", 340),
    ("unknown error", 500),
];

fn lookup(table: &[(&str, u16)], text: &str) -> Option<u16> {
    let text = text.trim();
    table
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(text))
        .map(|&(_, code)| code)
}

/// The numeric code of a `+CME ERROR` text, in any letter case.
pub(crate) fn cme_code(text: &str) -> Option<u16> {
    lookup(CME_TEXTS, text)
}

/// The numeric code of a `+CMS ERROR` text, in any letter case.
pub(crate) fn cms_code(text: &str) -> Option<u16> {
    lookup(CMS_TEXTS, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use atat::{CmeError, CmsError};

    #[test]
    fn every_text_atat_knows_maps_to_the_same_error_as_atat_does() {
        for (text, code) in CME_TEXTS {
            let ours = CmeError::from(*code);
            // atat names its CME codes only by its own capitalised spelling.
            let theirs = CmeError::from_msg(text.as_bytes());
            assert!(
                theirs == CmeError::Unknown || theirs == ours,
                "{text}: atat says {theirs:?}, we say {ours:?}"
            );
            // 100 is the standard's own "unknown"; every other code must have a name.
            assert!(
                *code == 100 || ours != CmeError::Unknown,
                "{text} ({code}) is not named by atat"
            );
        }
        for known in [
            "Phone failure",
            "No connection to phone",
            "Phone-adaptor link reserved",
            "Operation not allowed",
            "Operation not supported",
            "SIM not inserted",
            "SIM PIN required",
            "SIM PUK required",
            "SIM failure",
            "SIM busy",
            "SIM wrong",
            "Incorrect password",
            "Not found",
            "No network service",
            "Network timeout",
            "Incorrect parameters",
        ] {
            let code = cme_code(known);
            assert_eq!(
                code.map(CmeError::from),
                Some(CmeError::from_msg(known.as_bytes())),
                "{known}"
            );
        }
        for known in [
            "ME failure",
            "SMS service reserved",
            "Operation not allowed",
            "Operation not supported",
            "Invalid PDU mode parameter",
            "Invalid text mode parameter",
            "SIM not inserted",
            "SIM PIN required",
            "SIM failure",
            "SIM busy",
            "SIM wrong",
            "SIM PUK required",
            "Memory failure",
            "Invalid index",
            "Memory full",
            "SMSC address unknown",
            "No network",
            "Network timeout",
        ] {
            let code = cms_code(known);
            assert_eq!(
                code.map(CmsError::from),
                Some(CmsError::from_msg(known.as_bytes())),
                "{known}"
            );
        }
    }

    #[test]
    fn case_and_surrounding_blanks_do_not_matter_but_words_do() {
        assert_eq!(cme_code("OPERATION NOT ALLOWED"), Some(3));
        assert_eq!(cme_code(" sim pin required "), Some(11));
        assert_eq!(cms_code("Invalid Memory Index"), Some(321));
        assert_eq!(cme_code("operation not allowed!"), None);
        assert_eq!(cme_code("operation  not allowed"), None);
        assert_eq!(cme_code(""), None);
        assert_eq!(cms_code("the modem is sulking"), None);
    }
}
