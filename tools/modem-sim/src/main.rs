//! `sim7600-sim`: a SIM7600 on a pseudo-terminal, until SIGTERM or SIGINT. The work is in
//! the `modem_sim` library; this file is the command line and the wait for a signal.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use modem_sim::config::{
    DEFAULT_PCM_READY_AFTER, DEFAULT_RING_INTERVAL, DEFAULT_SIM_CAPACITY,
    DEFAULT_STATUS_REPORT_DELAY,
};
use modem_sim::control::PROTOCOL_HELP;
use modem_sim::{ExterntoneReply, Identity, SimConfig, Simulator, StatusReports};
use nix::sys::signal::{SigSet, Signal};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Reports {
    /// As AT+CNMI's <ds> says: 1 sends +CDS, 2 stores and sends +CDSI, 0 drops.
    Routed,
    /// Stored in SIM storage, announced by nothing.
    Stored,
    /// No status reports.
    Off,
}

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
    /// What happens to the status report of a message sent with TP-SRR set.
    #[arg(long, value_enum, default_value_t = Reports::Routed)]
    status_reports: Reports,
    /// How long after its +CMGS a status report comes, in milliseconds.
    #[arg(long, default_value_t = DEFAULT_STATUS_REPORT_DELAY.as_millis() as u64)]
    status_report_delay_ms: u64,
    /// The service centre number stored SMS carry.
    #[arg(long, default_value = "+31624000000")]
    smsc: String,
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
        status_reports: match args.status_reports {
            Reports::Routed => StatusReports::Routed,
            Reports::Stored => StatusReports::Stored,
            Reports::Off => StatusReports::Off,
        },
        status_report_delay: Duration::from_millis(args.status_report_delay_ms),
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
