//! Replies of the general commands.

use heapless::String;

use crate::command::{ParseError, prefixed, reply_lines, single_line};
use crate::urc::SimState;

/// Capacity of an identity string (manufacturer, model, revision).
///
/// The SIM7600 prints at most about 25 (`SIMCOM_SIM7600SA-H`, `LE20B04SIM7600M22`); 64
/// holds the longer revision strings of other firmware.
pub const IDENTITY_CAPACITY: usize = 64;

/// Capacity of an IMEI: 15 digits (an IMEISV has 16, some modems print 17).
pub const IMEI_CAPACITY: usize = 17;
/// Longest IMSI `AT+CIMI` returns: at most 15 digits (3GPP TS 23.003 §2.2).
pub const IMSI_CAPACITY: usize = 15;

/// A manufacturer, model or revision string.
pub type Identity = String<IDENTITY_CAPACITY>;

fn identity(text: &str, name: &'static str) -> Result<Identity, ParseError> {
    Identity::try_from(text.trim())
        .map_err(|_| ParseError::new(name, "longer than IDENTITY_CAPACITY"))
}

/// `AT+CGMI` reply: `SIMCOM INCORPORATED` (a bare line).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Manufacturer {
    /// The manufacturer as printed.
    pub name: Identity,
}

impl atat::AtatResp for Manufacturer {}

impl Manufacturer {
    /// Reads the reply (a `+CGMI:` prefix, which some firmware adds, is dropped).
    pub fn parse(reply: &[u8]) -> Result<Self, ParseError> {
        let line = single_line(reply, "+CGMI")?;
        let text = crate::params::after_prefix(line, "+CGMI").unwrap_or(line);
        Ok(Self {
            name: identity(text, "+CGMI")?,
        })
    }

    /// Whether this is SIMCom (`SIMCOM INCORPORATED`, case and spacing aside).
    pub fn is_simcom(&self) -> bool {
        self.name.to_ascii_uppercase_contains("SIMCOM")
    }
}

/// `AT+CGMM` reply: `SIMCOM_SIM7600E-H` (a bare line).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Model {
    /// The model as printed.
    pub name: Identity,
}

impl atat::AtatResp for Model {}

impl Model {
    /// Reads the reply (a `+CGMM:` prefix, which some firmware adds, is dropped).
    pub fn parse(reply: &[u8]) -> Result<Self, ParseError> {
        let line = single_line(reply, "+CGMM")?;
        let text = crate::params::after_prefix(line, "+CGMM").unwrap_or(line);
        Ok(Self {
            name: identity(text, "+CGMM")?,
        })
    }

    /// Whether the model is a SIM7600 variant (`SIMCOM_SIM7600G-H`, `SIM7600E`, ...).
    pub fn is_sim7600(&self) -> bool {
        self.name.to_ascii_uppercase_contains("SIM7600")
    }
}

/// `AT+CGMR` reply: `+CGMR: LE20B04SIM7600M22`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Revision {
    /// The firmware revision as printed.
    pub revision: Identity,
}

impl atat::AtatResp for Revision {}

impl Revision {
    /// Reads the reply; a bare line (no `+CGMR:`) is accepted too.
    pub fn parse(reply: &[u8]) -> Result<Self, ParseError> {
        let line = single_line(reply, "+CGMR")?;
        let text = crate::params::after_prefix(line, "+CGMR").unwrap_or(line);
        Ok(Self {
            revision: identity(text, "+CGMR")?,
        })
    }
}

/// `AT+CGSN` reply: the IMEI, `351602000330570` (a bare line of digits).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Imei {
    /// The digits.
    pub digits: String<IMEI_CAPACITY>,
}

impl atat::AtatResp for Imei {}

impl Imei {
    /// Reads the reply: 14 to 17 decimal digits.
    pub fn parse(reply: &[u8]) -> Result<Self, ParseError> {
        Ok(Self {
            digits: digits_line(reply, "+CGSN", 14, "not 14 to 17 decimal digits")?,
        })
    }
}

/// `AT+CIMI` reply: the SIM's IMSI, `262011234567890` (a bare line of digits). smsd writes
/// it into every incoming file (`IMSI:`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Imsi {
    /// The digits.
    pub digits: String<IMSI_CAPACITY>,
}

impl atat::AtatResp for Imsi {}

impl Imsi {
    /// Reads the reply: 6 to 15 decimal digits (an MCC, an MNC and at least one digit of
    /// the subscriber number); a `+CIMI:` prefix, which some firmware prints, is accepted.
    pub fn parse(reply: &[u8]) -> Result<Self, ParseError> {
        Ok(Self {
            digits: digits_line(reply, "+CIMI", 6, "not 6 to 15 decimal digits")?,
        })
    }
}

/// A reply of one line of `min..=N` decimal digits, optionally after `<prefix>:` (the
/// IMEI, the IMSI); `reason` says what was expected.
fn digits_line<const N: usize>(
    reply: &[u8],
    prefix: &'static str,
    min: usize,
    reason: &'static str,
) -> Result<String<N>, ParseError> {
    let line = single_line(reply, prefix)?;
    let text = crate::params::after_prefix(line, prefix)
        .unwrap_or(line)
        .trim();
    if !(min..=N).contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::new(prefix, reason));
    }
    String::try_from(text).map_err(|_| ParseError::new(prefix, reason))
}

/// `ATI` reply: `Manufacturer: ...`, `Model: ...`, `Revision: ...`, `IMEI: ...`,
/// `+GCAP: ...` lines. A field the modem leaves out is `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Identification {
    /// `Manufacturer: SIMCOM INCORPORATED`.
    pub manufacturer: Option<Identity>,
    /// `Model: SIMCOM_SIM7600G-H`.
    pub model: Option<Identity>,
    /// `Revision: SIM7600M22_V2.0`.
    pub revision: Option<Identity>,
    /// `IMEI: 351602000330570`.
    pub imei: Option<String<IMEI_CAPACITY>>,
}

impl atat::AtatResp for Identification {}

impl Identification {
    /// Reads the reply; fails only when none of the four fields is there.
    pub fn parse(reply: &[u8]) -> Result<Self, ParseError> {
        let mut id = Self::default();
        for line in reply_lines(reply) {
            let Ok(line) = core::str::from_utf8(line) else {
                continue;
            };
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "Manufacturer" => id.manufacturer = Some(identity(value, "ATI")?),
                "Model" => id.model = Some(identity(value, "ATI")?),
                "Revision" => id.revision = Some(identity(value, "ATI")?),
                "IMEI" => {
                    id.imei = Some(
                        String::try_from(value)
                            .map_err(|_| ParseError::new("ATI", "IMEI too long"))?,
                    )
                }
                _ => {}
            }
        }
        if id == Self::default() {
            return Err(ParseError::new(
                "ATI",
                "no Manufacturer/Model/Revision/IMEI line",
            ));
        }
        Ok(id)
    }
}

/// `AT+CPIN?` reply: `+CPIN: READY`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SimStatus {
    /// The SIM's state.
    pub state: SimState,
}

impl atat::AtatResp for SimStatus {}

impl SimStatus {
    /// Reads the reply.
    pub fn parse(reply: &[u8]) -> Result<Self, ParseError> {
        let text = prefixed(reply, "+CPIN")?;
        Ok(Self {
            state: SimState::from_text(text)
                .ok_or(ParseError::new("+CPIN", "state is empty or too long"))?,
        })
    }
}

/// ASCII case-insensitive substring search, for identity strings.
trait ContainsIgnoreCase {
    fn to_ascii_uppercase_contains(&self, needle: &str) -> bool;
}

impl ContainsIgnoreCase for str {
    fn to_ascii_uppercase_contains(&self, needle: &str) -> bool {
        let needle = needle.as_bytes();
        self.as_bytes()
            .windows(needle.len().max(1))
            .any(|window| window.eq_ignore_ascii_case(needle))
    }
}
