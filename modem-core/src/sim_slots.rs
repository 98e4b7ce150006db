//! Which SIM slot the bot reads next while it stands in for smsd: the slots `+CMTI`
//! announced, then a scan of the storage for what was stored before the bot held the port
//! (or while it had lost the modem).
//!
//! This module owns [`SimSlots`], sans-I/O: the host's loop asks [`SimSlots::next_slot`]
//! for a slot, reads it ([`Sim7600::read_sms`](crate::driver::Sim7600::read_sms)) and says
//! what it found ([`SimSlots::read`]). A scan knows from `AT+CPMS?`
//! ([`Sim7600::storage`](crate::driver::Sim7600::storage)) how many messages the storage
//! holds and its size; it stops as soon as it has seen that many, so an empty SIM costs one
//! command and a full one no more than its size. Slots are numbered from 0 on the SIM7600
//! and from 1 on some modems: a scan reads 0 through the size, and a slot that does not
//! exist is just an error the loop logs.

use heapless::{Deque, String};

use crate::command::sms::responses::StorageUsage;
use crate::urc::STORAGE_CAPACITY;

/// Slots announced by `+CMTI` and not read yet, at most: a burst beyond it is found by
/// the scan that an overflow starts.
pub const MAX_ANNOUNCED: usize = 64;

/// What reading one slot found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SlotRead {
    /// A message (of any status: it counts towards the storage's `used`).
    Message,
    /// The slot is empty.
    Empty,
    /// The modem refused or did not answer: the slot is skipped.
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Scan {
    next: u16,
    last: u16,
    used: u16,
    seen: u16,
}

/// The host's reading plan; see the module docs.
#[derive(Debug, Default)]
pub struct SimSlots {
    announced: Deque<u16, MAX_ANNOUNCED>,
    scan: Option<Scan>,
    /// Where `AT+CMGR` reads (`AT+CPMS?`'s first storage), once known.
    read_storage: Option<String<STORAGE_CAPACITY>>,
    /// The slot [`SimSlots::next_slot`] last gave out for the scan (an announced slot does
    /// not count towards the scan, even when it has the same number).
    scanned: Option<u16>,
}

impl SimSlots {
    /// A plan with nothing to read.
    pub fn new() -> SimSlots {
        SimSlots::default()
    }

    /// `AT+CPMS?` said the read storage is `read` (its name, holding `used` messages in
    /// `total` slots): scan it (from scratch: whatever was announced is found by the scan
    /// too).
    pub fn start_scan(&mut self, read: &StorageUsage) {
        self.read_storage = Some(read.storage.clone());
        self.announced.clear();
        self.scan = (read.used > 0).then_some(Scan {
            next: 0,
            last: read.total,
            used: read.used,
            seen: 0,
        });
    }

    /// `+CMTI: "<storage>",<index>`. `false` when the slot is in a storage other than the
    /// one `AT+CMGR` reads (it is left for smsd). A slot already waiting is not queued
    /// twice; beyond [`MAX_ANNOUNCED`] waiting slots a full scan is asked for instead.
    pub fn announced(&mut self, storage: &str, index: u16) -> bool {
        if let Some(read) = &self.read_storage {
            if !read.eq_ignore_ascii_case(storage) {
                return false;
            }
        }
        if self.announced.iter().any(|&waiting| waiting == index) {
            return true;
        }
        if let Some(scan) = self.scan.as_mut() {
            if index >= scan.next && index <= scan.last {
                // The scan reaches it: one more message for the scan to find.
                scan.used = scan.used.saturating_add(1);
                return true;
            }
        }
        if self.announced.len() >= MAX_ANNOUNCED {
            self.announced.clear();
            self.scan = Some(Scan {
                next: 0,
                last: u16::MAX,
                // Unknown: scan every slot until the modem says there are no more.
                used: u16::MAX,
                seen: 0,
            });
            return true;
        }
        // Cannot fail: fewer than MAX_ANNOUNCED slots wait (checked above).
        let _ = self.announced.push_back(index);
        true
    }

    /// Whether a slot waits to be read.
    pub fn pending(&self) -> bool {
        !self.announced.is_empty() || self.scan.is_some()
    }

    /// The next slot to read: announced ones first, then the scan's.
    pub fn next_slot(&mut self) -> Option<u16> {
        self.scanned = None;
        if let Some(index) = self.announced.pop_front() {
            return Some(index);
        }
        let scan = self.scan.as_mut()?;
        let index = scan.next;
        self.scanned = Some(index);
        match scan.next.checked_add(1) {
            Some(n) if index < scan.last => scan.next = n,
            _ => self.scan = None,
        }
        Some(index)
    }

    /// What reading `index` found; a scan stops once it has seen every stored message,
    /// and an unbounded scan (after an overflow) at the first slot that does not exist.
    pub fn read(&mut self, index: u16, found: SlotRead) {
        // Only the scan's own slot counts (an announced slot may lie anywhere).
        if self.scanned.take() != Some(index) {
            return;
        }
        let Some(scan) = self.scan.as_mut() else {
            return;
        };
        match found {
            SlotRead::Message => {
                scan.seen = scan.seen.saturating_add(1);
                if scan.seen >= scan.used {
                    self.scan = None;
                }
            }
            SlotRead::Failed if scan.used == u16::MAX => self.scan = None,
            SlotRead::Empty | SlotRead::Failed => {}
        }
    }

    /// The modem was lost or gave the port back: nothing is read until the next scan.
    pub fn clear(&mut self) {
        self.announced.clear();
        self.scan = None;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec::Vec;

    fn storage(name: &str, used: u16, total: u16) -> StorageUsage {
        StorageUsage {
            storage: String::try_from(name).unwrap(),
            used,
            total,
        }
    }

    fn drain(s: &mut SimSlots, stored: &[u16]) -> Vec<u16> {
        let mut read = Vec::new();
        while let Some(i) = s.next_slot() {
            read.push(i);
            let found = if stored.contains(&i) {
                SlotRead::Message
            } else {
                SlotRead::Empty
            };
            s.read(i, found);
            assert!(read.len() < 1000, "the scan must end");
        }
        read
    }

    #[test]
    fn an_empty_sim_reads_nothing() {
        let mut s = SimSlots::new();
        s.start_scan(&storage("SM", 0, 30));
        assert!(!s.pending());
        assert_eq!(s.next_slot(), None);
    }

    #[test]
    fn a_scan_stops_at_the_last_stored_message() {
        let mut s = SimSlots::new();
        s.start_scan(&storage("SM", 2, 30));
        assert_eq!(drain(&mut s, &[1, 4]), [0, 1, 2, 3, 4]);
        assert!(!s.pending());
    }

    #[test]
    fn a_scan_reaches_the_slot_numbered_as_the_size_for_one_based_storages() {
        let mut s = SimSlots::new();
        s.start_scan(&storage("SM", 1, 3));
        // Slot 0 does not exist on a 1-based modem: an error, then 1, 2, 3.
        assert_eq!(s.next_slot(), Some(0));
        s.read(0, SlotRead::Failed);
        assert_eq!(drain(&mut s, &[3]), [1, 2, 3]);
    }

    #[test]
    fn a_storage_that_counts_more_than_it_holds_ends_after_its_size() {
        let mut s = SimSlots::new();
        s.start_scan(&storage("SM", 5, 3));
        assert_eq!(drain(&mut s, &[0]), [0, 1, 2, 3]);
    }

    #[test]
    fn announced_slots_come_first_once_each_and_other_storages_are_left() {
        let mut s = SimSlots::new();
        s.start_scan(&storage("SM", 0, 30));
        assert!(s.announced("SM", 7));
        assert!(s.announced("sm", 7));
        assert!(!s.announced("ME", 2));
        assert!(s.announced("SM", 3));
        assert_eq!(drain(&mut s, &[3, 7]), [7, 3]);
    }

    #[test]
    fn a_slot_announced_ahead_of_the_scan_is_read_by_the_scan_once_and_extends_it() {
        let mut s = SimSlots::new();
        s.start_scan(&storage("SM", 1, 30));
        assert!(s.announced("SM", 5));
        // Slot 0 was counted by AT+CPMS?, slot 5 arrived after it: the scan finds both.
        assert_eq!(drain(&mut s, &[0, 5]), [0, 1, 2, 3, 4, 5]);
        // Behind the scan, an announced slot is read on its own, before the scan goes on.
        s.start_scan(&storage("SM", 2, 30));
        for i in [0, 1] {
            assert_eq!(s.next_slot(), Some(i));
            s.read(i, SlotRead::Empty);
        }
        assert!(s.announced("SM", 0));
        assert_eq!(s.next_slot(), Some(0));
        assert_eq!(s.next_slot(), Some(2));
    }

    #[test]
    fn a_new_sms_in_the_slot_the_scan_just_freed_does_not_count_for_the_scan() {
        let mut s = SimSlots::new();
        s.start_scan(&storage("SM", 2, 30));
        assert_eq!(s.next_slot(), Some(0));
        s.read(0, SlotRead::Message);
        // Slot 0 delivered and deleted; a new SMS lands there and is announced.
        assert!(s.announced("SM", 0));
        assert_eq!(s.next_slot(), Some(0));
        s.read(0, SlotRead::Message);
        // The scan still looks for the second message it counted.
        assert_eq!(drain(&mut s, &[3]), [1, 2, 3]);
    }

    #[test]
    fn before_the_storage_is_known_every_announcement_is_taken() {
        let mut s = SimSlots::new();
        assert!(s.announced("ME", 2));
        assert_eq!(s.next_slot(), Some(2));
    }

    #[test]
    fn an_announcement_overflow_becomes_a_scan_until_the_slots_end() {
        let mut s = SimSlots::new();
        s.start_scan(&storage("SM", 0, 30));
        for i in 0..=MAX_ANNOUNCED as u16 {
            assert!(s.announced("SM", i));
        }
        let mut read = Vec::new();
        while let Some(i) = s.next_slot() {
            read.push(i);
            s.read(
                i,
                if i < 70 {
                    SlotRead::Message
                } else {
                    SlotRead::Failed
                },
            );
            assert!(read.len() < 1000);
        }
        assert_eq!(read, (0..=70).collect::<Vec<_>>());
    }

    #[test]
    fn a_new_scan_forgets_what_was_announced_and_clear_forgets_everything() {
        let mut s = SimSlots::new();
        s.announced("SM", 9);
        s.start_scan(&storage("SM", 1, 2));
        assert_eq!(drain(&mut s, &[1]), [0, 1]);
        s.announced("SM", 4);
        s.start_scan(&storage("SM", 1, 10));
        s.clear();
        assert!(!s.pending());
    }
}
