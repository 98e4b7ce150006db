//! `sim7600-sim`: a SIM7600 on a pseudo-terminal, until SIGTERM or SIGINT. The work is in
//! the `modem_sim` library; this file is the command line and the wait for a signal.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use modem_sim::config::{DEFAULT_PCM_READY_AFTER, DEFAULT_RING_INTERVAL, DEFAULT_SIM_CAPACITY};
use modem_sim::control::PROTOCOL_HELP;
use modem_sim::{Behaviour, ExterntoneReply, Identity, SimConfig, Simulator, Storage};
use nix::sys::signal::{SigSet, Signal};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Externtone {
    Ok,
    Error,
}

/// A simulated SIMCom SIM7600 modem on a pseudo-terminal.
///
/// Prints the port's path on the first line of stdout, then runs until SIGTERM or SIGINT
/// (which remove the link and the control socket).
#[derive(Debug, Parser)]
#[command(name = "sim7600-sim", version, after_long_help = PROTOCOL_HELP, after_help = PROTOCOL_HELP)]
struct Args {
    /// Make PATH a symlink to the port (parent folders created, a stale link replaced).
    #[arg(long, value_name = "PATH")]
    link: Option<PathBuf>,
    /// Listen for control commands on this unix socket (see CONTROL PROTOCOL below).
    #[arg(long, value_name = "SOCKET")]
    control: Option<PathBuf>,
    /// Write a transcript of both directions, with timestamps, to FILE.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// AT+CGMI answer.
    #[arg(long, default_value_t = Identity::default().manufacturer)]
    manufacturer: String,
    /// AT+CGMM answer (anything else than SIMCOM_SIM7600... presents another modem).
    #[arg(long, default_value_t = Identity::default().model)]
    model: String,
    /// AT+CGMR answer.
    #[arg(long, default_value_t = Identity::default().revision)]
    revision: String,
    /// AT+CGSN answer.
    #[arg(long, default_value_t = Identity::default().imei)]
    imei: String,
    /// AT+CIMI answer.
    #[arg(long, default_value_t = Identity::default().imsi)]
    imsi: String,
    /// How AT+CEXTERNTONE is answered (unverified on a real SIM7600).
    #[arg(long, value_enum, default_value_t = Externtone::Ok)]
    externtone: Externtone,
    /// SIM storage slots ("SM", indexed from 0).
    #[arg(long, default_value_t = DEFAULT_SIM_CAPACITY)]
    sim_capacity: usize,
    /// Default time between RINGs, in milliseconds.
    #[arg(long, default_value_t = DEFAULT_RING_INTERVAL.as_millis() as u64)]
    ring_interval_ms: u64,
    /// AT+CVHU at power-up (0: ATH hangs up; 1: ATH ignored for voice calls).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
    cvhu: u8,
    /// Emulate the audio port (interface 04) on a second pty and make PATH a symlink to it.
    #[arg(long, value_name = "PATH")]
    audio_link: Option<PathBuf>,
    /// AT+CPCMREG=1 sooner than this many milliseconds after a call connected is refused.
    #[arg(long, default_value_t = DEFAULT_PCM_READY_AFTER.as_millis() as u64)]
    pcm_ready_after_ms: u64,
    /// The service centre number stored SMS carry.
    #[arg(long, default_value = "+31624000000")]
    smsc: String,
    /// Behave like the real SIM7600s of public captures in every way the simulator models
    /// (the options below then change one behaviour each).
    #[arg(long)]
    real_modem: bool,
    /// After ATA, VOICE CALL: BEGIN before the OK and +CLCC after it.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    begin_before_ok: Option<bool>,
    /// After AT+CHUP, +CLCC and VOICE CALL: END: <duration> before the OK, no NO CARRIER.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    end_before_ok: Option<bool>,
    /// The +CLCC index of an incoming call.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=7))]
    call_id: Option<u8>,
    /// Number type 128 for a shown caller number.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    shown_number_type_128: Option<bool>,
    /// The storage received messages go to, as +CPMS and +CMTI name it.
    #[arg(long, value_enum)]
    storage: Option<StorageArg>,
    /// Frame URCs starting with PREFIX as \r\r\n...\r\r\n (repeatable; replaces the list).
    #[arg(long = "cr-cr-lf-urc", value_name = "PREFIX")]
    cr_cr_lf_urcs: Vec<String>,
    /// Announce a stored SMS as "+CMTI: ,-1", without its place.
    #[arg(long)]
    unlocated_cmti: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StorageArg {
    /// "SM", the SIM.
    Sm,
    /// "ME", the modem's memory.
    Me,
}

impl Args {
    /// The profile, then each option given on top of it.
    fn behaviour(&self) -> Behaviour {
        let mut b = if self.real_modem {
            Behaviour::real_modem()
        } else {
            Behaviour::simulator()
        };
        b.begin_before_ok = self.begin_before_ok.unwrap_or(b.begin_before_ok);
        b.end_before_ok = self.end_before_ok.unwrap_or(b.end_before_ok);
        b.call_id = self.call_id.unwrap_or(b.call_id);
        b.shown_number_type_128 = self
            .shown_number_type_128
            .unwrap_or(b.shown_number_type_128);
        if let Some(storage) = self.storage {
            b.storage = match storage {
                StorageArg::Sm => Storage::Sim,
                StorageArg::Me => Storage::Modem,
            };
        }
        if !self.cr_cr_lf_urcs.is_empty() {
            b.cr_cr_lf_urcs = self.cr_cr_lf_urcs.clone();
        }
        b.unlocated_cmti |= self.unlocated_cmti;
        b
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Block the stop signals before any thread starts, so that only sigwait below sees them.
    let mut stop = SigSet::empty();
    stop.add(Signal::SIGTERM);
    stop.add(Signal::SIGINT);
    stop.thread_block().context("cannot block SIGTERM/SIGINT")?;
    if args.ring_interval_ms == 0 {
        anyhow::bail!("--ring-interval-ms must be at least 1");
    }
    let behaviour = args.behaviour();
    let config = SimConfig {
        identity: Identity {
            manufacturer: args.manufacturer,
            model: args.model,
            revision: args.revision,
            imei: args.imei,
            imsi: args.imsi,
        },
        externtone: match args.externtone {
            Externtone::Ok => ExterntoneReply::Ok,
            Externtone::Error => ExterntoneReply::Error,
        },
        sim_capacity: args.sim_capacity,
        smsc: args.smsc,
        ring_interval: Duration::from_millis(args.ring_interval_ms),
        cvhu_default: args.cvhu,
        link: args.link,
        control: args.control,
        record: args.record,
        audio_link: args.audio_link,
        pcm_ready_after: Duration::from_millis(args.pcm_ready_after_ms),
        behaviour,
    };
    let sim = Simulator::start(config).context("cannot start the simulator")?;
    println!("{}", sim.port().display());
    if let Some(pty) = sim.pty_path() {
        eprintln!("sim7600-sim: modem on {}", pty.display());
    }
    let signal = stop.wait().context("cannot wait for a signal")?;
    eprintln!("sim7600-sim: {signal:?}, stopping");
    sim.stop();
    Ok(())
}
