//! host-linux: the Linux side of sim7600. It owns the AT port while a `sim7600` command
//! needs it ([`handoff::PortLease`], [`link`]), the one place that stops and starts
//! smstools ([`handoff`]), who holds the port ([`holders`]), the orderly shutdown on
//! signals and panics ([`signals`]), the configuration ([`config`]), and the commands of
//! the `sim7600` CLI ([`cli`], [`commands`]). The AT dialogue itself is modem-core's.

// The host needs a std critical section for atat's channels (ATAT-NOTES.md): named here
// so the crate is linked even though nothing calls it by name.
use critical_section as _;
use embassy_time as _;

pub mod agent;
pub mod api;
pub mod audio;
pub mod bot;
pub mod cli;
pub mod commands;
pub mod config;
pub mod events;
pub mod fleet;
pub mod handoff;
pub mod holders;
pub mod link;
pub mod logging;
pub mod metrics;
pub mod mqtt;
pub mod private_files;
pub mod signals;
pub mod sms_queue;
pub mod spool;
