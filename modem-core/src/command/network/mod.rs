//! Network commands: signal quality and registration (SIM7500/SIM7600 AT Command Manual
//! V1.12, the network chapter; "Manual:" names the heading of each command).

pub mod responses;
pub mod types;

use atat::atat_derive::AtatCmd;

use responses::{Registration, SignalQuality};

/// `AT+CSQ`: signal strength and bit error rate, `+CSQ: 16,99`. Manual: "AT+CSQ Query
/// signal quality" (3GPP TS 27.007 §8.5).
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CSQ", SignalQuality, parse = SignalQuality::parse)]
pub struct GetSignalQuality;

/// `AT+CREG?`: circuit-switched registration, `+CREG: 0,1`. Manual: "AT+CREG Network
/// registration" (3GPP TS 27.007 §7.2). The `+CREG` URC is never turned on, so this reply
/// cannot be mistaken for one (atat #179).
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CREG?", Registration, parse = Registration::parse)]
pub struct GetRegistration;

/// Longest USSD code [`StartUssd`] sends (`*100#`, `*135*1#`; 3GPP TS 22.030 codes are far
/// shorter).
pub const USSD_CODE_CAPACITY: usize = 32;

/// `AT+CUSD=1,"<code>",15`: sends a USSD request with result codes on; the network's
/// answer comes later as a `+CUSD:` URC ([`crate::urc::Urc::Ussd`]). Written by hand so
/// the code stays one quoted string. Manual: "AT+CUSD Unstructured supplementary service
/// data" (3GPP TS 27.007 §7.15); 15 is the GSM default alphabet.
#[derive(Debug, Clone)]
pub struct StartUssd {
    /// The code: `0`-`9`, `*`, `#` (checked by the driver).
    pub code: heapless::String<USSD_CODE_CAPACITY>,
}

impl atat::AtatCmd for StartUssd {
    type Response = crate::command::NoResponse;
    const MAX_TIMEOUT_MS: u32 = 10_000;

    fn write(&self, buf: &mut [u8]) -> usize {
        let parts: [&[u8]; 3] = [b"AT+CUSD=1,\"", self.code.as_bytes(), b"\",15\r"];
        let len = parts.iter().map(|p| p.len()).sum::<usize>();
        let Some(out) = buf.get_mut(..len) else {
            return 0;
        };
        let mut at = 0;
        for part in parts {
            if let Some(dst) = out.get_mut(at..at + part.len()) {
                dst.copy_from_slice(part);
            }
            at += part.len();
        }
        len
    }

    fn parse(
        &self,
        resp: Result<&[u8], atat::InternalError>,
    ) -> Result<Self::Response, atat::Error> {
        resp.map(|_| crate::command::NoResponse)
            .map_err(atat::Error::from)
    }
}
