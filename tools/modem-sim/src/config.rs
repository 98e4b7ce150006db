//! What a simulated modem is: its identity and the behaviours the protocol notes mark as
//! unverified (and so must be configurable), plus where its port, control socket and
//! transcript (and the audio port) live.

use std::path::PathBuf;
use std::time::Duration;

/// The SIM capacity a real SIM7600 usually reports for `"SM"`.
pub const DEFAULT_SIM_CAPACITY: usize = 30;
/// How long after a call connects AT+CPCMREG=1 is refused (the protocol notes: at least
/// 100 ms).
pub const DEFAULT_PCM_READY_AFTER: Duration = Duration::from_millis(100);
/// The interval between two RINGs when a `call` names none (a real network: about 3 s).
pub const DEFAULT_RING_INTERVAL: Duration = Duration::from_secs(3);

/// What the modem says about itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    /// `AT+CGMI`, bare line.
    pub manufacturer: String,
    /// `AT+CGMM`, bare line; set it to something else to present a modem that is not a SIM7600.
    pub model: String,
    /// `AT+CGMR` (`+CGMR: <revision>`).
    pub revision: String,
    /// `AT+CGSN`, the IMEI.
    pub imei: String,
    /// `AT+CIMI`, the SIM's IMSI.
    pub imsi: String,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            manufacturer: "SIMCOM INCORPORATED".into(),
            model: "SIMCOM_SIM7600G-H".into(),
            revision: "LE20B04SIM7600M22".into(),
            imei: "351602000330570".into(),
            imsi: "262011234567890".into(),
        }
    }
}

/// How the modem answers `AT+CEXTERNTONE=...`, a SIM800 command whose fate on a SIM7600 is
/// unverified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExterntoneReply {
    /// `OK`.
    #[default]
    Ok,
    /// Plain `ERROR`.
    Error,
}

/// The SMS storage the modem keeps received messages in, as `+CPMS` and `+CMTI` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum Storage {
    /// `"SM"`, the SIM.
    #[default]
    #[serde(rename = "SM")]
    Sim,
    /// `"ME"`, the modem's own memory (ModemManager's captures show `+CMTI: "ME",1`).
    #[serde(rename = "ME")]
    Modem,
}

impl Storage {
    /// The name the modem prints.
    pub fn name(self) -> &'static str {
        match self {
            Storage::Sim => "SM",
            Storage::Modem => "ME",
        }
    }
}

/// Where the simulator says things the way real SIM7600s were seen to say them in public
/// captures (docs/hil.md lists the sources). [`Behaviour::simulator`] is the simulator's own
/// way, [`Behaviour::real_modem`] all of the real ones at once; each field switches one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Behaviour {
    /// After `ATA`: `VOICE CALL: BEGIN` before the `OK`, the `+CLCC` after it (otherwise
    /// both follow the `OK`).
    pub begin_before_ok: bool,
    /// After `AT+CHUP` (or `ATH` with `AT+CVHU=0`): `+CLCC` and `VOICE CALL: END:
    /// <duration>` before the `OK`, and no `NO CARRIER` (otherwise all three follow the
    /// `OK`).
    pub end_before_ok: bool,
    /// The `+CLCC` index of an incoming call (the simulator's own: 1; real captures: 3, 4).
    pub call_id: u8,
    /// Type 128 (unknown type, unknown plan) for a shown number, as in
    /// `+CLCC: 4,1,4,0,0,"08020866256",128` (otherwise 145 for `+...`, 129 for others).
    pub shown_number_type_128: bool,
    /// The storage received messages go to.
    pub storage: Storage,
    /// URCs (by their start, `+RXDTMF`, `+CRING`) framed `\r\r\n...\r\r\n`.
    pub cr_cr_lf_urcs: Vec<String>,
    /// A stored message is announced as `+CMTI: ,-1`, without its place (reported from a
    /// SIMCom modem of the same family; not part of [`Behaviour::real_modem`], which keeps
    /// to what SIM7600 captures show).
    pub unlocated_cmti: bool,
}

impl Behaviour {
    /// The simulator's own way.
    pub fn simulator() -> Behaviour {
        Behaviour {
            begin_before_ok: false,
            end_before_ok: false,
            call_id: 1,
            shown_number_type_128: false,
            storage: Storage::Sim,
            cr_cr_lf_urcs: Vec::new(),
            unlocated_cmti: false,
        }
    }

    /// Every real-modem behaviour the simulator models.
    pub fn real_modem() -> Behaviour {
        Behaviour {
            begin_before_ok: true,
            end_before_ok: true,
            call_id: 4,
            shown_number_type_128: true,
            storage: Storage::Modem,
            cr_cr_lf_urcs: vec!["+RXDTMF".into(), "+CRING".into()],
            unlocated_cmti: false,
        }
    }
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour::simulator()
    }
}

/// Everything [`crate::Simulator::start`] needs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The modem's identity.
    pub identity: Identity,
    /// Reply to AT+CEXTERNTONE.
    pub externtone: ExterntoneReply,
    /// Slots of SIM storage `"SM"`, indexed from 0.
    pub sim_capacity: usize,
    /// The service centre the stored SMS name.
    pub smsc: String,
    /// Default RING interval for calls that name none.
    pub ring_interval: Duration,
    /// `AT+CVHU` at power-up (0: ATH hangs up voice calls; 1: ATH is ignored for them).
    pub cvhu_default: u8,
    /// Make this path a symlink to the port (parents created, a stale link replaced).
    pub link: Option<PathBuf>,
    /// Listen for control commands on this unix socket.
    pub control: Option<PathBuf>,
    /// Write a transcript of both directions here.
    pub record: Option<PathBuf>,
    /// Emulate the audio port (USB interface 04) on a second pty, linked here.
    pub audio_link: Option<PathBuf>,
    /// AT+CPCMREG=1 this soon after a call connected is refused (`+CME ERROR: 3`).
    pub pcm_ready_after: Duration,
    /// How it words and orders what it says ([`Behaviour::simulator`] by default).
    pub behaviour: Behaviour,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            identity: Identity::default(),
            externtone: ExterntoneReply::Ok,
            sim_capacity: DEFAULT_SIM_CAPACITY,
            smsc: "+31624000000".into(),
            ring_interval: DEFAULT_RING_INTERVAL,
            cvhu_default: 0,
            link: None,
            control: None,
            record: None,
            audio_link: None,
            pcm_ready_after: DEFAULT_PCM_READY_AFTER,
            behaviour: Behaviour::simulator(),
        }
    }
}
