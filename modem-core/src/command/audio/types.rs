//! Parameter types of the audio commands.

use atat::atat_derive::AtatEnum;

use crate::command::serialize_as_u8;

/// `AT+CLVL=<level>`: speaker volume 0..=5 (the SIM7600 default is 4; kept across
/// power-off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SpeakerVolume(u8);

impl SpeakerVolume {
    /// The loudest level.
    pub const MAX: Self = Self(5);

    /// The level, `None` above [`SpeakerVolume::MAX`].
    pub const fn new(level: u8) -> Option<Self> {
        if level <= Self::MAX.0 {
            Some(Self(level))
        } else {
            None
        }
    }

    /// The level 0..=5.
    pub const fn level(self) -> u8 {
        self.0
    }
}

serialize_as_u8!(SpeakerVolume, |v| v.level());

/// `AT+CEXTERNTONE=<mode>`: a SIM800-family command the seed asks for; not in the SIM7600
/// manual, so what a SIM7600 answers is unverified and an `ERROR` must only be a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AtatEnum)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[at_enum(u8)]
pub enum ExternalTone {
    /// 0: close the external tone path.
    #[at_arg(value = 0)]
    Off,
    /// 1: open it (what the seed sends).
    #[at_arg(value = 1)]
    On,
}

/// `AT+CPCMREG=<mode>`: voice over the USB audio port (interface 04).
#[derive(Debug, Clone, Copy, PartialEq, Eq, AtatEnum)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[at_enum(u8)]
pub enum PcmRegister {
    /// 0: stop PCM over USB.
    #[at_arg(value = 0)]
    Stop,
    /// 1: start it: 8 kHz (or 16 kHz after `AT+CPCMFRM=1`) signed 16-bit little-endian
    /// mono, 320-byte frames of 20 ms, both ways. Send at least 100 ms after the call
    /// connected.
    #[at_arg(value = 1)]
    Start,
}

/// `AT+CPCMFRM=<format>`: the USB audio sample rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AtatEnum)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[at_enum(u8)]
pub enum PcmFormat {
    /// 0: 8 kHz (the default).
    #[at_arg(value = 0)]
    Rate8kHz,
    /// 1: 16 kHz.
    #[at_arg(value = 1)]
    Rate16kHz,
}
