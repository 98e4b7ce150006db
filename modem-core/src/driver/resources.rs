//! The buffers and channels atat needs, in one bundle with documented sizes.
//!
//! atat splits a modem link into an `Ingress` (fed with the bytes read from the port, it
//! digests them into replies and URCs), a `Client` (writes commands, waits for their reply
//! in a `ResponseSlot`) and a `UrcChannel` (a publish/subscribe queue of URCs). All of them
//! borrow buffers whose sizes must agree. [`Resources`] owns those buffers once, with the
//! sizes below, and [`Resources::split`] hands out the three parts, so a Linux host
//! (`Box::leak` or a long-lived owner) and an MCU (`static_cell::StaticCell`) set the link up
//! the same way.

use atat::{Config, ResponseSlot, UrcSubscription};
use embedded_io_async::Write;

use crate::digest::{CommandTracker, IngressNotices, Sim7600Digester, TrackedWriter};
use crate::urc::Urc;

use super::Sim7600;
use super::ingress::ModemIngress;

/// Largest reply (from its first text line to its final result code) the driver takes, in
/// bytes: the digester's [`MAX_RESPONSE_LEN`](crate::digest::MAX_RESPONSE_LEN). The longest
/// replies are `AT+CMGR` in PDU mode (a header and up to 350 hex digits: under 400 bytes) and
/// the `AT+CLCC` list; a longer reply is a [`Capacity`](super::ErrorKind::Capacity) error
/// for that command, and the next command works.
pub const RESPONSE_LEN: usize = crate::digest::MAX_RESPONSE_LEN;

/// Bytes the ingress holds while a reply is incomplete: one whole held reply plus one line
/// being received ([`INGRESS_BUF_SIZE`](crate::digest::INGRESS_BUF_SIZE)), so the buffer
/// never fills before the digester has decided.
pub const INGRESS_BUF_LEN: usize = crate::digest::INGRESS_BUF_SIZE;

/// Largest command the driver writes, in bytes: the commands' own
/// [`MAX_COMMAND_LEN`](crate::command::MAX_COMMAND_LEN), set by the longest, an `AT+CMGS`
/// body in PDU mode (352 hex digits and Ctrl-Z). An undersized buffer would make atat panic
/// while serialising; the driver checks every variable-length argument before sending.
pub const COMMAND_BUF_LEN: usize = crate::command::MAX_COMMAND_LEN;

/// URCs queued until every subscriber has read them. A call produces at most two per ring
/// (`RING`, `+CLIP`) every 3 s; 16 gives a subscriber half a minute of slack, and costs 16
/// times the size of a [`Urc`] (a few hundred bytes at most: the PDU a `+CDS`/`+CMT` carries, or
/// a `+CUSD` text).
pub const URC_CAPACITY: usize = 16;

/// How many subscribers the URC channel allows at once: the call task and one more (an SMS
/// task, a logger). A subscriber that stops reading holds up the channel for all.
pub const URC_SUBSCRIBERS: usize = 2;

/// The digester that turns port bytes into replies and URCs.
pub type ModemDigester<'a> = Sim7600Digester<'a>;

/// atat's async client as the driver uses it: writing through a [`TrackedWriter`] so the
/// digester knows which command is in flight.
pub type ModemClient<'a, W> = atat::asynch::Client<'a, TrackedWriter<'a, W>, RESPONSE_LEN>;

/// The URC channel of a SIM7600 link.
pub type ModemUrcChannel = atat::UrcChannel<Urc, URC_CAPACITY, URC_SUBSCRIBERS>;

/// A subscription to the link's URCs.
pub type ModemUrcSubscription<'a> = UrcSubscription<'a, Urc, URC_CAPACITY, URC_SUBSCRIBERS>;

/// The three parts of a link: what reads, what commands, where URCs go.
pub struct Parts<'a, W: Write> {
    /// Feed it every byte read from the port (`try_write` on a host reader thread,
    /// `read_from` in an MCU task).
    pub ingress: ModemIngress<'a>,
    /// The driver, writing to the port through `W`.
    pub modem: Sim7600<ModemClient<'a, W>>,
    /// Subscribe here for URCs (at most [`URC_SUBSCRIBERS`]) before bytes flow: URCs that
    /// arrive with no subscriber are dropped.
    pub urcs: &'a ModemUrcChannel,
}

impl<W: Write> core::fmt::Debug for Parts<'_, W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Parts").finish_non_exhaustive()
    }
}

/// atat's buffers and channels for one SIM7600 link, sized by the constants of this module.
pub struct Resources {
    tracker: CommandTracker,
    notices: IngressNotices,
    response_slot: ResponseSlot<RESPONSE_LEN>,
    urc_channel: ModemUrcChannel,
    ingress_buf: [u8; INGRESS_BUF_LEN],
    command_buf: [u8; COMMAND_BUF_LEN],
}

impl core::fmt::Debug for Resources {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Resources").finish_non_exhaustive()
    }
}

impl Default for Resources {
    fn default() -> Self {
        Self::new()
    }
}

impl Resources {
    /// Empty buffers; `const` so an MCU can place them in a `static`.
    pub const fn new() -> Self {
        Self {
            tracker: CommandTracker::new(),
            notices: IngressNotices::new(),
            response_slot: ResponseSlot::new(),
            urc_channel: ModemUrcChannel::new(),
            ingress_buf: [0; INGRESS_BUF_LEN],
            command_buf: [0; COMMAND_BUF_LEN],
        }
    }

    /// Splits the bundle into the link's parts, the driver writing through `writer` (wrapped
    /// in a [`TrackedWriter`] that tells the digester which command is in flight) with atat's
    /// `config` (command cooldown, write and response timeouts).
    ///
    /// The ingress holds the URC channel's only publisher: split again only after the
    /// previous parts are gone.
    pub fn split<W: Write>(&mut self, writer: W, config: Config) -> Parts<'_, W> {
        let ingress = ModemIngress::new(
            Sim7600Digester::with_tracker(&self.tracker),
            &self.notices,
            &mut self.ingress_buf,
            &self.response_slot,
            &self.urc_channel,
        );
        let client = atat::asynch::Client::new(
            TrackedWriter::new(writer, &self.tracker),
            &self.response_slot,
            &mut self.command_buf,
            config,
        );
        Parts {
            ingress,
            modem: Sim7600::new(client),
            urcs: &self.urc_channel,
        }
    }
}
