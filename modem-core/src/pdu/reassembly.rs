//! Reassembly of concatenated messages (TS 23.040 §9.2.3.24.1), with fixed capacity and
//! an expiry driven by the caller's clock.
//!
//! This module owns [`Reassembler`]: it takes decoded [`Deliver`] parts in any order and
//! hands back whole messages. Parts are keyed by originator, reference (8- or 16-bit) and
//! part count; a part seen twice is ignored. Nothing is ever dropped silently: a message
//! leaves the reassembler complete, or incomplete with the parts it has and the numbers of
//! those missing, in exactly three cases: its last part arrived ([`PushOutcome::Complete`]),
//! room was needed ([`PushOutcome::Pending::evicted`], the oldest pending message goes out
//! when all [`PENDING_MESSAGES`] slots are taken, or a message with more parts than a slot
//! holds flushes what it has to make room), or it waited too long
//! ([`Reassembler::pop_expired`]). Time is a number of seconds the caller passes in from
//! any monotonic clock; [`Reassembler::next_expiry`] says when to look again, so the
//! caller sleeps instead of polling.

use core::fmt;

use super::address::Address;
use super::deliver::Deliver;
use super::timestamp::Timestamp;
use super::user_data::{Body, ConcatReference};

/// Default number of concatenated messages pending at once.
pub const PENDING_MESSAGES: usize = 4;
/// Default number of parts one pending message holds: the default send limit
/// ([`super::DEFAULT_MAX_PARTS`]), so a message we could send we can also receive whole.
pub const MAX_PARTS_PER_MESSAGE: usize = 10;
/// Default expiry, in seconds after the latest part of a message arrived: an hour. The
/// parts of one message normally arrive within seconds; a network that holds one back
/// for longer than an hour is rare, and the reader should not wait longer than that.
pub const DEFAULT_EXPIRY_S: u64 = 3_600;

/// What identifies the parts of one concatenated message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MessageKey {
    /// The sender.
    pub originator: Address,
    /// The reference from the concatenation element.
    pub reference: ConcatReference,
    /// The part count from the concatenation element.
    pub total: u8,
}

/// A message out of the reassembler: complete, or incomplete with what arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReassembledMessage<const PARTS: usize = MAX_PARTS_PER_MESSAGE> {
    originator: Address,
    reference: Option<ConcatReference>,
    total: u8,
    /// The time stamp of the lowest-numbered part received, and that part's number.
    timestamp: (Timestamp, u8),
    first_received_s: u64,
    last_received_s: u64,
    /// Received parts, sorted by sequence number, each number once.
    parts: heapless::Vec<(u8, Body), PARTS>,
}

impl<const PARTS: usize> ReassembledMessage<PARTS> {
    /// The sender.
    pub fn originator(&self) -> &Address {
        &self.originator
    }

    /// The concatenation reference, `None` for a message that came in one part.
    pub fn reference(&self) -> Option<ConcatReference> {
        self.reference
    }

    /// Number of parts the message has (1 for a single message).
    pub fn total(&self) -> u8 {
        self.total
    }

    /// The service centre time stamp of the first part received (the lowest number).
    pub fn timestamp(&self) -> &Timestamp {
        &self.timestamp.0
    }

    /// When (caller's clock, seconds) the first part arrived.
    pub fn first_received_s(&self) -> u64 {
        self.first_received_s
    }

    /// Whether every part arrived.
    pub fn is_complete(&self) -> bool {
        self.parts.len() == usize::from(self.total)
    }

    /// The numbers (1-based) of the parts that did not arrive.
    pub fn missing(&self) -> impl Iterator<Item = u8> + '_ {
        (1..=self.total).filter(move |n| self.parts.binary_search_by_key(n, |(s, _)| *s).is_err())
    }

    /// The parts that arrived, in order, with their numbers (1-based).
    pub fn parts(&self) -> impl Iterator<Item = (u8, &Body)> + '_ {
        self.parts.iter().map(|(s, b)| (*s, b))
    }

    /// Writes the texts of the parts that arrived, in order (8-bit parts have no text and
    /// are left out; see [`Self::parts`]).
    pub fn write_text(&self, out: &mut impl fmt::Write) -> fmt::Result {
        self.parts
            .iter()
            .filter_map(|(_, b)| b.text())
            .try_for_each(|t| out.write_str(t))
    }

    fn key_matches(&self, key: &MessageKey) -> bool {
        self.reference == Some(key.reference)
            && self.total == key.total
            && self.originator == key.originator
    }

    fn single(sms: Deliver, sequence: u8, total: u8, now_s: u64) -> Self {
        let reference = sms.concatenation.map(|c| c.reference);
        let mut parts = heapless::Vec::new();
        // PARTS >= 1 is checked when the reassembler is built; an empty vector takes one.
        let _ = parts.push((sequence, sms.body));
        Self {
            originator: sms.originator,
            reference,
            total,
            timestamp: (sms.timestamp, sequence),
            first_received_s: now_s,
            last_received_s: now_s,
            parts,
        }
    }
}

/// What [`Reassembler::push`] did with a part.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PushOutcome<const PARTS: usize = MAX_PARTS_PER_MESSAGE> {
    /// The message is whole: a single message, or the last missing part arrived.
    Complete(ReassembledMessage<PARTS>),
    /// The part is stored until the rest arrives.
    Pending {
        /// A message that had to leave, incomplete, to make room for this part.
        evicted: Option<ReassembledMessage<PARTS>>,
    },
    /// The same part of the same message was already stored; this copy is ignored.
    Duplicate,
}

/// Joins the parts of concatenated messages; see the module documentation.
#[derive(Debug, Clone)]
pub struct Reassembler<
    const MESSAGES: usize = PENDING_MESSAGES,
    const PARTS: usize = MAX_PARTS_PER_MESSAGE,
> {
    pending: heapless::Vec<ReassembledMessage<PARTS>, MESSAGES>,
    expiry_s: u64,
}

impl<const MESSAGES: usize, const PARTS: usize> Default for Reassembler<MESSAGES, PARTS> {
    fn default() -> Self {
        Self::new(DEFAULT_EXPIRY_S)
    }
}

impl<const MESSAGES: usize, const PARTS: usize> Reassembler<MESSAGES, PARTS> {
    const CAPACITY_CHECK: () = assert!(
        MESSAGES >= 1 && PARTS >= 1,
        "a reassembler needs room for at least one message of one part"
    );

    /// A reassembler whose pending messages expire `expiry_s` seconds after their latest
    /// part.
    pub fn new(expiry_s: u64) -> Self {
        // Evaluated at compile time for each instantiation.
        let () = Self::CAPACITY_CHECK;
        Self {
            pending: heapless::Vec::new(),
            expiry_s,
        }
    }

    /// Messages waiting for parts.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Takes one received part at time `now_s`.
    pub fn push(&mut self, sms: Deliver, now_s: u64) -> PushOutcome<PARTS> {
        let Some(concat) = sms.concatenation else {
            return PushOutcome::Complete(ReassembledMessage::single(sms, 1, 1, now_s));
        };
        if concat.total == 1 {
            return PushOutcome::Complete(ReassembledMessage::single(
                sms,
                concat.sequence,
                concat.total,
                now_s,
            ));
        }
        let key = MessageKey {
            originator: sms.originator.clone(),
            reference: concat.reference,
            total: concat.total,
        };
        let slot = self
            .pending
            .iter_mut()
            .enumerate()
            .find(|(_, m)| m.key_matches(&key));

        if let Some((index, message)) = slot {
            let Err(at) = message
                .parts
                .binary_search_by_key(&concat.sequence, |(s, _)| *s)
            else {
                return PushOutcome::Duplicate;
            };
            let timestamp = sms.timestamp;
            return match message.parts.insert(at, (concat.sequence, sms.body)) {
                Ok(()) => {
                    if concat.sequence < message.timestamp.1 {
                        message.timestamp = (timestamp, concat.sequence);
                    }
                    message.last_received_s = now_s;
                    if message.is_complete() {
                        PushOutcome::Complete(self.pending.remove(index))
                    } else {
                        PushOutcome::Pending { evicted: None }
                    }
                }
                Err((sequence, body)) => {
                    // More parts than a slot holds: what arrived so far goes out incomplete
                    // and this part starts the slot again.
                    let evicted = Some(self.pending.remove(index));
                    let sms = Deliver { body, ..sms };
                    let fresh = ReassembledMessage::single(sms, sequence, concat.total, now_s);
                    self.store(fresh, evicted)
                }
            };
        }
        let fresh = ReassembledMessage::single(sms, concat.sequence, concat.total, now_s);
        self.store(fresh, None)
    }

    /// Stores a new pending message, making room by evicting the oldest when every slot
    /// is taken (unless `evicted` already freed one).
    fn store(
        &mut self,
        message: ReassembledMessage<PARTS>,
        mut evicted: Option<ReassembledMessage<PARTS>>,
    ) -> PushOutcome<PARTS> {
        if self.pending.is_full() && evicted.is_none() {
            evicted = self.take_oldest();
        }
        match self.pending.push(message) {
            Ok(()) => PushOutcome::Pending { evicted },
            // Unreachable: a slot was freed above. Handing the part back as an incomplete
            // message keeps the promise that nothing is dropped.
            Err(message) => PushOutcome::Pending {
                evicted: Some(message),
            },
        }
    }

    fn take_oldest(&mut self) -> Option<ReassembledMessage<PARTS>> {
        let index = self
            .pending
            .iter()
            .enumerate()
            .min_by_key(|(_, m)| m.first_received_s)
            .map(|(i, _)| i)?;
        Some(self.pending.remove(index))
    }

    /// The earliest time (caller's clock, seconds) at which [`Self::pop_expired`] will
    /// return a message, `None` when nothing is pending.
    pub fn next_expiry(&self) -> Option<u64> {
        self.pending
            .iter()
            .map(|m| m.last_received_s.saturating_add(self.expiry_s))
            .min()
    }

    /// Removes and returns one message whose latest part is `expiry_s` or more seconds old
    /// at `now_s`, incomplete; call until `None`.
    pub fn pop_expired(&mut self, now_s: u64) -> Option<ReassembledMessage<PARTS>> {
        let index = self
            .pending
            .iter()
            .position(|m| m.last_received_s.saturating_add(self.expiry_s) <= now_s)?;
        Some(self.pending.remove(index))
    }

    /// Removes and returns the oldest pending message, incomplete (for shutdown: call until
    /// `None` so nothing is lost).
    pub fn pop_oldest(&mut self) -> Option<ReassembledMessage<PARTS>> {
        self.take_oldest()
    }
}
