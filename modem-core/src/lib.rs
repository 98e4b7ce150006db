//! The SIM7600 AT dialogue, `no_std` and without `alloc`.
//!
//! One protocol core for the Linux voice bot and for microcontroller gateways: it knows
//! the SIM7600's AT commands, replies and unsolicited lines, and nothing about ports,
//! threads or clocks.
//!
//! - [`urc`]: every line the modem sends on its own ([`urc::Urc`]) and the one parser for
//!   them.
//! - [`digest`]: [`digest::Sim7600Digester`], the `atat::Digester` that cuts the byte
//!   stream into replies, URCs and prompts (URCs taken out wherever they arrive, even
//!   between a reply and its `OK`), and the [`digest::CommandTracker`] /
//!   [`digest::TrackedWriter`] pair that tells it which command is in flight.
//! - [`command`]: the AT commands as typed atat commands with typed replies.
//! - [`line`](mod@line): a streaming classifier for captured port bytes (`sim7600 decode`).
//! - [`call`], [`config`], [`driver`], [`pdu`]: the call state machine, the voice
//!   configuration, the async driver and the SMS PDU codec.
//! - [`sim_slots`]: which SIM slot to read next, from `+CMTI` and a scan of the storage.
//!
//! Wiring atat by hand (what [`driver`]'s resource bundle does for you): one
//! [`digest::CommandTracker`] shared by the digester and the writer; an `atat::Ingress`
//! over a buffer of [`digest::INGRESS_BUF_SIZE`] bytes with
//! `Sim7600Digester::with_tracker(&tracker)` (and a [`digest::IngressNotices`] through
//! which the ingress reports a full URC channel and a cleared buffer:
//! [`driver::ModemIngress`] is atat's `Ingress` doing that), a `ResponseSlot` of at least
//! [`digest::MAX_RESPONSE_LEN`] and a `UrcChannel<Urc, _, _>`; an
//! `atat::asynch::Client` writing through `TrackedWriter::new(port_writer, &tracker)` with
//! a command buffer of [`command::MAX_COMMAND_LEN`]. Feed every byte read from the port to
//! the ingress (`try_write` from a host reader thread, `read_from` in an MCU task) and
//! subscribe to the URC channel before bytes flow. `modem-core/tests/digest_client.rs`
//! does exactly this on the host.
//!
//! Features: `defmt` (MCU logging) or `log` (host logging), never both; neither changes
//! behaviour.
#![no_std]
#![deny(unsafe_code)]
#![deny(missing_docs)]

// Must come first so that every module sees its macros.
mod fmt;
mod params;

mod error_text;

pub mod call;
pub mod command;
pub mod config;
pub mod digest;
pub mod driver;
pub mod line;
pub mod pdu;
pub mod sim_slots;
pub mod urc;
