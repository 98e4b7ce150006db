//! host-linux: the Linux side of sim7600, one room per thing (docs/architecture.md draws
//! the house). From the bottom up, each folder importing only from folders below it:
//!
//! - [`platform`]: the serial link, signals and the orderly shutdown, who holds a port,
//!   private files, logging, metrics.
//! - [`spool`]: smstools' spool as smsd writes and reads it, the API's SMS queue, the SIM's
//!   message slots.
//! - [`handoff`]: the one place that stops and starts smstools ([`handoff::PortLease`]),
//!   restore markers, and the restore after a bot that died.
//! - [`fleet`]: modems named by IMEI, their USB devices, the modem-health supervisor.
//! - [`audio`]: call audio, speech, the DTMF menu.
//! - [`calls`]: the call tracker, the call log, and the state the bot shares with its users.
//! - [`events`]: call and SMS events, their bus and webhooks.
//! - [`agent`]: media streams to agent frameworks, TwiML.
//! - [`api`]: the HTTP API (with its server-sent events and audio stream).
//! - [`mqtt`]: the MQTT bridge and Home Assistant discovery.
//! - [`bot`]: the voice bot's loop, the port's only writer.
//! - [`app`]: the `sim7600` program: command line, configuration, subcommands, the voice
//!   bot's start-up.
//!
//! The AT dialogue itself is modem-core's.

// The host needs a std critical section for atat's channels (ATAT-NOTES.md): named here
// so the crate is linked even though nothing calls it by name.
use critical_section as _;
use embassy_time as _;

pub mod agent;
pub mod api;
pub mod app;
pub mod audio;
pub mod bot;
pub mod calls;
pub mod events;
pub mod fleet;
pub mod handoff;
pub mod mqtt;
pub mod platform;
pub mod spool;
