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
