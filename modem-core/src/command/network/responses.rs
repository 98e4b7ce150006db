//! Replies of the network commands.

use crate::command::{ParseError, number, prefixed};
use crate::params::Fields;

use super::types::{RegistrationReporting, RegistrationStatus};

/// `AT+CSQ` reply: `+CSQ: <rssi>,<ber>` (3GPP TS 27.007 §8.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SignalQuality {
    /// The received signal strength code: 0..=31 (GSM/UMTS/LTE scale) or 100..=191
    /// (the SIM7600's TD-SCDMA scale); `None` for 99 / 199, "not known".
    pub rssi: Option<u8>,
    /// The bit error rate class 0..=7; `None` for 99, "not known" (usual outside a call).
    pub ber: Option<u8>,
}

impl atat::AtatResp for SignalQuality {}

impl SignalQuality {
    /// Reads the reply.
    pub fn parse(reply: &[u8]) -> Result<Self, ParseError> {
        let mut fields = Fields::new(prefixed(reply, "+CSQ")?);
        let rssi: u8 = number(&mut fields, "+CSQ", "rssi is not a number 0..=255")?;
        let ber: u8 = number(&mut fields, "+CSQ", "ber is not a number 0..=255")?;
        Ok(Self {
            rssi: (!matches!(rssi, 99 | 199)).then_some(rssi),
            ber: (ber != 99).then_some(ber),
        })
    }

    /// The signal strength in dBm: 0 is -113 dBm or less, 31 is -51 dBm or more, 2 dB a
    /// step; 100 is -116 dBm, 191 is -25 dBm, 1 dB a step.
    pub fn rssi_dbm(&self) -> Option<i16> {
        match self.rssi? {
            code @ 0..=31 => Some(-113 + 2 * i16::from(code)),
            code @ 100..=191 => Some(-116 + i16::from(code - 100)),
            _ => None,
        }
    }
}

/// `AT+CREG?` reply: `+CREG: <n>,<stat>[,<lac>,<ci>]` (3GPP TS 27.007 §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Registration {
    /// Whether the modem reports changes on its own.
    pub reporting: RegistrationReporting,
    /// The registration state.
    pub status: RegistrationStatus,
}

impl atat::AtatResp for Registration {}

impl Registration {
    /// Reads the reply (location fields, when present, are ignored).
    pub fn parse(reply: &[u8]) -> Result<Self, ParseError> {
        let mut fields = Fields::new(prefixed(reply, "+CREG")?);
        let reporting = number(&mut fields, "+CREG", "<n> is not a number 0..=255")?;
        let status = number(&mut fields, "+CREG", "<stat> is not a number 0..=255")?;
        Ok(Self {
            reporting: RegistrationReporting::from_code(reporting),
            status: RegistrationStatus::from_code(status),
        })
    }
}
