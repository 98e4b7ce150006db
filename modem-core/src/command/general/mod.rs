//! General commands: attention, echo, identity, error reporting, SIM state
//! (SIM7500/SIM7600 AT Command Manual V1.12: the V.25ter, identification and SIM chapters;
//! "Manual:" below names the manual's heading for each command).

pub mod responses;
pub mod types;

use atat::atat_derive::AtatCmd;

use crate::command::NoResponse;
use responses::{Identification, Imei, Imsi, Manufacturer, Model, Revision, SimStatus};
use types::{EchoMode, ErrorReporting};

/// `AT`: checks that the modem answers (`OK`). Manual: "AT Check the serial interface".
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("", NoResponse, parse = NoResponse::parse)]
pub struct Attention;

/// `ATE0` / `ATE1`: turns command echo off or on. Manual: "ATE Enable command echo".
/// The bot runs with echo off (the seed's init sends `ATE0`).
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("E", NoResponse, value_sep = false, parse = NoResponse::parse)]
pub struct SetEcho {
    /// Echo on or off.
    #[at_arg(position = 0)]
    pub mode: EchoMode,
}

/// `ATI`: product identification (manufacturer, model, revision, IMEI lines). Manual: "ATI Display product identification information".
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("I", Identification, parse = Identification::parse)]
pub struct Identify;

/// `AT+CGMI`: the manufacturer, `SIMCOM INCORPORATED`. Manual: "AT+CGMI Request manufacturer identification".
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CGMI", Manufacturer, parse = Manufacturer::parse)]
pub struct GetManufacturer;

/// `AT+CGMM`: the model, `SIMCOM_SIM7600G-H`. Manual: "AT+CGMM Request model identification".
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CGMM", Model, parse = Model::parse)]
pub struct GetModel;

/// `AT+CGMR`: the firmware revision, `+CGMR: LE20B04SIM7600M22`. Manual: "AT+CGMR Request revision identification".
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CGMR", Revision, parse = Revision::parse)]
pub struct GetRevision;

/// `AT+CGSN`: the IMEI, the one identity that tells two SIM7600s apart (their USB serial
/// numbers are all `0123456789ABCDEF`). Manual: "AT+CGSN Request product serial number identification".
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CGSN", Imei, parse = Imei::parse)]
pub struct GetImei;

/// `AT+CIMI`: the SIM's IMSI, which smsd writes into incoming files. Fails with
/// `+CME ERROR: 10` (SIM not inserted) or a PIN error while the SIM is not ready. Manual:
/// "AT+CIMI Request international mobile subscriber identity".
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CIMI", Imsi, parse = Imsi::parse)]
pub struct GetImsi;

/// `AT+CMEE=<n>`: how errors are reported; the driver sets numeric (`AT+CMEE=1`) so that
/// errors carry a code. Manual: "AT+CMEE Report mobile equipment error" (3GPP TS 27.007 §9.1).
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CMEE", NoResponse, parse = NoResponse::parse)]
pub struct SetErrorReporting {
    /// Bare `ERROR`, numeric or verbose codes.
    #[at_arg(position = 0)]
    pub mode: ErrorReporting,
}

/// `AT+CPIN?`: the SIM's state, `+CPIN: READY`. Manual: "AT+CPIN Enter PIN"
/// (3GPP TS 27.007 §8.3). The SIM may take 5 s to answer after start-up.
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CPIN?", SimStatus, parse = SimStatus::parse, timeout_ms = 5000)]
pub struct GetSimStatus;

/// `AT+CFUN=1,1`: full functionality after a reset: the modem restarts (it answers `OK`,
/// then drops off USB and enumerates again, `RDY` on its new port). Manual: "AT+CFUN Set
/// phone functionality" (3GPP TS 27.007 §8.2; `<rst>` = 1 resets before setting `<fun>`).
/// The supervisor's second step for a modem that stopped answering.
#[derive(Debug, Clone, AtatCmd)]
#[at_cmd("+CFUN=1,1", NoResponse, parse = NoResponse::parse, timeout_ms = 9000)]
pub struct ResetModem;
