//! Parameter enums of the call commands.

use core::num::NonZeroU8;

use atat::atat_derive::AtatEnum;

use crate::command::serialize_as_u8;

/// `ATS0=<n>`: after how many rings the modem answers by itself (V.25ter §6.3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AutoAnswer {
    /// 0: never (the power-up default; the host answers with `ATA`).
    Disabled,
    /// 1..=255: on that ring.
    AfterRings(NonZeroU8),
}

impl AutoAnswer {
    /// The setting for a ring count, 0 meaning never.
    pub const fn from_rings(rings: u8) -> Self {
        match NonZeroU8::new(rings) {
            Some(rings) => Self::AfterRings(rings),
            None => Self::Disabled,
        }
    }

    /// The ring count, 0 meaning never.
    pub const fn rings(self) -> u8 {
        match self {
            Self::Disabled => 0,
            Self::AfterRings(rings) => rings.get(),
        }
    }
}

serialize_as_u8!(AutoAnswer, |a| a.rings());

/// `AT+CLIP=<n>`: whether `+CLIP` follows each `RING` (3GPP TS 27.007 §7.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, AtatEnum)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[at_enum(u8)]
pub enum CallerIdPresentation {
    /// 0: no `+CLIP`.
    #[at_arg(value = 0)]
    Disabled,
    /// 1: `+CLIP: "<number>",<type>,,,<alpha>,<validity>` after each ring.
    #[at_arg(value = 1)]
    Enabled,
}

/// `AT+CLCC=<n>`: whether the modem sends `+CLCC` on each call state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AtatEnum)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[at_enum(u8)]
pub enum CallListReporting {
    /// 0: only on `AT+CLCC`.
    #[at_arg(value = 0)]
    Disabled,
    /// 1: a `+CLCC` URC on every change.
    #[at_arg(value = 1)]
    Enabled,
}

/// `AT+CRC=<n>`: `RING` or `+CRING: <type>` for incoming calls (3GPP TS 27.007 §6.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, AtatEnum)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[at_enum(u8)]
pub enum CellularResultCodes {
    /// 0: `RING` (the default).
    #[at_arg(value = 0)]
    Disabled,
    /// 1: `+CRING: VOICE`.
    #[at_arg(value = 1)]
    Enabled,
}

/// `AT+CVHU=<n>`: whether `ATH` hangs up a voice call (3GPP TS 27.007 §6.20).
#[derive(Debug, Clone, Copy, PartialEq, Eq, AtatEnum)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[at_enum(u8)]
pub enum VoiceHangupControl {
    /// 0: `ATH` ends a voice call.
    #[at_arg(value = 0)]
    AthHangsUp,
    /// 1: `ATH` is ignored for voice calls (hence the driver uses `AT+CHUP`).
    #[at_arg(value = 1)]
    AthIgnored,
}
