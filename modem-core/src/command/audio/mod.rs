//! Audio commands: speaker volume, the external tone, PCM audio over USB (SIM7500/SIM7600
//! AT Command Manual V1.12, the audio chapter, and the SIM7600 USB audio application note;
//! "Manual:" names the heading of each command).

pub mod responses;
pub mod types;

use atat::atat_derive::AtatCmd;

use crate::command::NoResponse;
use types::{ExternalTone, PcmFormat, PcmRegister, SpeakerVolume};

/// `AT+CLVL=<level>`: speaker volume 0..=5. Manual: "AT+CLVL Loudspeaker volume level"
/// (3GPP TS 27.007 §8.23).
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CLVL", NoResponse, parse = NoResponse::parse)]
pub struct SetSpeakerVolume {
    /// The level.
    #[at_arg(position = 0)]
    pub volume: SpeakerVolume,
}

/// `AT+CEXTERNTONE=<mode>`: see [`ExternalTone`]; the driver treats its `ERROR` as a
/// warning.
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CEXTERNTONE", NoResponse, parse = NoResponse::parse)]
pub struct SetExternalTone {
    /// On or off.
    #[at_arg(position = 0)]
    pub mode: ExternalTone,
}

/// `AT+CPCMREG=<mode>`: starts or stops voice over the USB audio port. Manual: "AT+CPCMREG
/// Control PCM data transfer by diagnostics port".
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CPCMREG", NoResponse, parse = NoResponse::parse)]
pub struct SetPcmRegister {
    /// Start or stop.
    #[at_arg(position = 0)]
    pub mode: PcmRegister,
}

/// `AT+CPCMFRM=<format>`: the USB audio sample rate. Manual: "AT+CPCMFRM Set PCM format".
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CPCMFRM", NoResponse, parse = NoResponse::parse)]
pub struct SetPcmFormat {
    /// 8 kHz or 16 kHz.
    #[at_arg(position = 0)]
    pub format: PcmFormat,
}

/// One command of switching call audio over USB, as a host's call-audio logic hands it to
/// its AT writer ([`Sim7600::switch_pcm`](crate::driver::Sim7600::switch_pcm) sends it):
/// [`SetPcmFormat`] or [`SetPcmRegister`] with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PcmCommand {
    /// `AT+CPCMFRM=<format>`, before the first `AT+CPCMREG=1` of a wideband call.
    Format(PcmFormat),
    /// `AT+CPCMREG=1` (start) or `AT+CPCMREG=0` (stop).
    Register(PcmRegister),
}

impl PcmCommand {
    /// `AT+CPCMREG=1`: PCM audio starts.
    pub const START: Self = Self::Register(PcmRegister::Start);
    /// `AT+CPCMREG=0`: PCM audio stops.
    pub const STOP: Self = Self::Register(PcmRegister::Stop);
    /// `AT+CPCMFRM=1`: 16 kHz audio.
    pub const WIDEBAND: Self = Self::Format(PcmFormat::Rate16kHz);

    /// The command as the modem reads it, without the `\r` (`AT+CPCMREG=1`), for logs.
    pub const fn describe(&self) -> &'static str {
        match self {
            Self::Format(PcmFormat::Rate8kHz) => "AT+CPCMFRM=0",
            Self::Format(PcmFormat::Rate16kHz) => "AT+CPCMFRM=1",
            Self::Register(PcmRegister::Stop) => "AT+CPCMREG=0",
            Self::Register(PcmRegister::Start) => "AT+CPCMREG=1",
        }
    }
}

impl core::fmt::Display for PcmCommand {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.describe())
    }
}
