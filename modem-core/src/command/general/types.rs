//! Parameter enums of the general commands.

use atat::atat_derive::AtatEnum;

/// `ATE<value>`: whether the modem echoes what it is sent (V.25ter §6.2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, AtatEnum)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[at_enum(u8)]
pub enum EchoMode {
    /// 0: no echo (what the bot runs with, after `ATE0`).
    #[at_arg(value = 0)]
    Off,
    /// 1: echo (the power-up default).
    #[at_arg(value = 1)]
    On,
}

/// `AT+CMEE=<n>`: how errors are reported (3GPP TS 27.007 §9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, AtatEnum)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[at_enum(u8)]
pub enum ErrorReporting {
    /// 0: a bare `ERROR`.
    #[at_arg(value = 0)]
    Disabled,
    /// 1: `+CME ERROR: <n>` with a number (what the driver asks for).
    #[at_arg(value = 1)]
    Numeric,
    /// 2: `+CME ERROR: <text>`.
    #[at_arg(value = 2)]
    Verbose,
}
