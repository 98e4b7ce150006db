//! Which SIM slots may be deleted, and when: the parts of received messages, joined, each
//! message handed out with the SIM indexes that held it.
//!
//! This module owns [`SimReader`], sans-I/O: the bot reads a slot (`AT+CMGR`), pushes the
//! decoded PDU with its index and the time, and gets back the messages that are ready to
//! be written into incoming/, each with every index it was made of. The bot deletes those
//! indexes (`AT+CMGD`) only after [`super::Inbox::deliver`] returned, so a part is never
//! deleted before its message is durably in incoming/. Parts of a message that is not
//! complete stay on the SIM; when the bot gives the port back ([`SimReader::forget`]),
//! smsd finds them there and joins them itself. A message whose parts stop coming is
//! given up after the reassembler's expiry ([`SimReader::expired`]) the way smsd gives
//! one up: each part that came is handed out as a message of its own, marked incomplete
//! ([`ReceivedSms::incomplete_part`]), with its own slot.
//!
//! A part read again after a crash (its message delivered, the part not yet deleted) is
//! recognised by the caller with [`super::Inbox::delivered_part`] before it is pushed,
//! and deleted without a second delivery.

use modem_core::pdu::{ConcatReference, Deliver, PushOutcome, ReassembledMessage, Reassembler};

use super::incoming::{PartsMeta, ReceivedSms, part_key};

/// A message ready for incoming/, and the SIM slots to delete once it is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyMessage {
    /// The message.
    pub sms: ReceivedSms,
    /// The SIM indexes that held its parts (and any duplicate copies of them).
    pub sim_indexes: Vec<u16>,
}

/// Which message a part belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PartOf {
    originator: String,
    toa: u8,
    reference: ConcatReference,
    total: u8,
}

impl PartOf {
    fn of_part(part: &Deliver) -> Option<PartOf> {
        let c = part.concatenation?;
        (c.total > 1).then(|| PartOf {
            originator: part.originator.value.as_str().to_string(),
            toa: part.originator.type_of_address.to_octet(),
            reference: c.reference,
            total: c.total,
        })
    }

    fn of_message(m: &ReassembledMessage) -> Option<PartOf> {
        Some(PartOf {
            originator: m.originator().value.as_str().to_string(),
            toa: m.originator().type_of_address.to_octet(),
            reference: m.reference()?,
            total: m.total(),
        })
    }
}

#[derive(Debug, Clone)]
struct Pending {
    of: PartOf,
    /// The parts as read, with their slots, first copy of each.
    parts: Vec<(u16, Deliver)>,
    /// Slots of second copies of a part, deleted with the message.
    duplicates: Vec<u16>,
}

impl Pending {
    fn complete(self, msg: &ReassembledMessage) -> ReadyMessage {
        let meta = self
            .parts
            .first()
            .map(|(_, d)| PartsMeta::of(d))
            .unwrap_or(PartsMeta {
                smsc: None,
                alphabet: modem_core::pdu::Alphabet::Gsm7,
                report: false,
            });
        let keys = self.parts.iter().map(|(_, d)| part_key(d)).collect();
        let mut sim_indexes: Vec<u16> = self.parts.iter().map(|(i, _)| *i).collect();
        sim_indexes.extend(self.duplicates);
        ReadyMessage {
            sms: ReceivedSms::from_reassembled(msg, &meta, keys),
            sim_indexes,
        }
    }

    fn incomplete(self) -> Vec<ReadyMessage> {
        let mut duplicates = Some(self.duplicates);
        self.parts
            .into_iter()
            .map(|(index, part)| {
                let mut sim_indexes = vec![index];
                sim_indexes.extend(duplicates.take().unwrap_or_default());
                ReadyMessage {
                    sms: ReceivedSms::incomplete_part(&part),
                    sim_indexes,
                }
            })
            .collect()
    }
}

/// The SIM's received messages, joined; see the module docs.
#[derive(Debug)]
pub struct SimReader {
    reassembler: Reassembler,
    pending: Vec<Pending>,
}

impl SimReader {
    /// A reader whose incomplete messages are given up `expiry_s` seconds after their
    /// latest part.
    pub fn new(expiry_s: u64) -> SimReader {
        SimReader {
            reassembler: Reassembler::new(expiry_s),
            pending: Vec::new(),
        }
    }

    /// Messages waiting for parts.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    /// The part read from SIM slot `index` at `now_s` (any monotonic seconds); returns
    /// the messages now ready (this one if complete, and any the reassembler had to let
    /// go incomplete to make room).
    pub fn push(&mut self, index: u16, part: Deliver, now_s: u64) -> Vec<ReadyMessage> {
        let of = PartOf::of_part(&part);
        let mut ready = Vec::new();
        match self.reassembler.push(part.clone(), now_s) {
            PushOutcome::Complete(msg) => match of.as_ref().and_then(|o| self.take(o)) {
                Some(mut p) => {
                    p.parts.push((index, part));
                    ready.push(p.complete(&msg));
                }
                None => ready.push(ReadyMessage {
                    sms: ReceivedSms::from_reassembled(
                        &msg,
                        &PartsMeta::of(&part),
                        vec![part_key(&part)],
                    ),
                    sim_indexes: vec![index],
                }),
            },
            PushOutcome::Pending { evicted } => {
                if let Some(msg) = evicted {
                    ready.extend(self.release(&msg));
                }
                if let Some(of) = of {
                    match self.pending.iter_mut().find(|p| p.of == of) {
                        Some(p) => p.parts.push((index, part)),
                        None => self.pending.push(Pending {
                            of,
                            parts: vec![(index, part)],
                            duplicates: Vec::new(),
                        }),
                    }
                }
            }
            PushOutcome::Duplicate => {
                // A second copy of a part: deleted together with its message.
                if let Some(p) = of.and_then(|of| self.pending.iter_mut().find(|p| p.of == of)) {
                    p.duplicates.push(index);
                }
            }
        }
        ready
    }

    /// When (the caller's seconds) [`Self::expired`] will next have a message.
    pub fn next_expiry(&self) -> Option<u64> {
        self.reassembler.next_expiry()
    }

    /// Messages given up at `now_s`, incomplete, with the slots of the parts that came.
    pub fn expired(&mut self, now_s: u64) -> Vec<ReadyMessage> {
        let mut ready = Vec::new();
        while let Some(msg) = self.reassembler.pop_expired(now_s) {
            ready.extend(self.release(&msg));
        }
        ready
    }

    /// Forgets every incomplete message (the bot gives the port back): their parts stay
    /// on the SIM for smsd, which joins them itself.
    pub fn forget(&mut self) {
        while self.reassembler.pop_oldest().is_some() {}
        self.pending.clear();
    }

    fn take(&mut self, of: &PartOf) -> Option<Pending> {
        let at = self.pending.iter().position(|p| &p.of == of)?;
        Some(self.pending.remove(at))
    }

    /// A message the reassembler let go incomplete: each part a message of its own.
    fn release(&mut self, msg: &ReassembledMessage) -> Vec<ReadyMessage> {
        PartOf::of_message(msg)
            .and_then(|of| self.take(&of))
            .map(Pending::incomplete)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::incoming::IncomingText;

    // A three-part message from the simulator (8-bit reference 1), and a single one.
    const PART1: &str = "07911326040000F0440B911346610089F6000062114250239500A0050003010301A061391D442FE3E9A0F3BB3C07A1CBF2B20B040DCBE9207A194F079DDFE539085D96975D2068584E07D1CB783AE8FC2ECF41E8B2BCEC0241C3723A885EC6D341E777790E4297E56517081A96D341F4329E0E3ABFCB7310BA2C2FBB40D0B09C0EA297F174D0F95D9E83D06579D9058286E57410BD8CA783CEEFF21C842ECBCB2E10342CA783E8";
    const PART2: &str = "07911326040000F0440B911346610089F6000062114250239500A0050003010302CA783AE8FC2ECF41E8B2BCEC0241C3723A885EC6D341E777790E4297E56517081A96D341F4329E0E3ABFCB7310BA2C2FBB40D0B09C0EA297F174D0F95D9E83D06579D9058286E57410BD8CA783CEEFF21C842ECBCB2E10342CA783E8653C1D747E97E72074595E7681A061391D442FE3E9A0F3BB3C07A1CBF2B20B040DCBE9207A194F079DDF";
    const PART3: &str = "07911326040000F0440B911346610089F600006211425023950079050003010303CA7310BA2C2FBB40D0B09C0EA297F174D0F95D9E83D06579D9058286E57410BD8CA783CEEFF21C842ECBCB2E10342CA783E8653C1D747E97E72074595E7681A061391D442FE3E9A0F3BB3C07A1CBF2B20B040DCBE9207A194F079DDFE539085D96975D20";
    const SINGLE: &str = "07911326040000F0040B911346610089F600006211425023950009FAB7BB0CA297E774";

    fn part(hex: &str) -> Deliver {
        Deliver::from_hex(hex).unwrap()
    }

    fn text(m: &ReadyMessage) -> String {
        match &m.sms.text {
            IncomingText::Text { text, .. } => text.clone(),
            IncomingText::Binary(_) => panic!("binary"),
        }
    }

    #[test]
    fn a_single_message_is_ready_at_once_with_its_slot() {
        let mut r = SimReader::new(3600);
        let ready = r.push(4, part(SINGLE), 0);
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].sim_indexes, [4]);
        assert_eq!(text(&ready[0]), "zone test");
        assert_eq!(ready[0].sms.part_keys, [part_key(&part(SINGLE))]);
    }

    #[test]
    fn three_parts_out_of_order_are_one_message_with_all_three_slots() {
        let mut r = SimReader::new(3600);
        assert!(r.push(7, part(PART3), 0).is_empty());
        assert!(r.push(2, part(PART1), 1).is_empty());
        assert_eq!(r.waiting(), 1);
        let ready = r.push(5, part(PART2), 2);
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].sim_indexes, [7, 2, 5]);
        assert_eq!(text(&ready[0]), "Part text goes here. ".repeat(20));
        assert_eq!(ready[0].sms.incomplete, None);
        assert_eq!(ready[0].sms.part_keys.len(), 3);
        assert_eq!(r.waiting(), 0);
    }

    #[test]
    fn a_part_that_never_comes_gives_each_part_up_after_the_expiry_marked_like_smsd() {
        let mut r = SimReader::new(60);
        assert!(r.push(0, part(PART1), 100).is_empty());
        assert!(r.push(2, part(PART3), 110).is_empty());
        assert_eq!(r.next_expiry(), Some(170));
        assert!(r.expired(169).is_empty());
        let ready = r.expired(170);
        assert_eq!(ready.len(), 2, "one message per part that came");
        assert_eq!(ready[0].sim_indexes, [0]);
        assert_eq!(ready[1].sim_indexes, [2]);
        let seq: Vec<u8> = ready
            .iter()
            .map(|m| m.sms.incomplete.unwrap().sequence)
            .collect();
        assert_eq!(seq, [1, 3]);
        assert!(text(&ready[0]).starts_with("Part text goes here."));
        assert!(text(&ready[1]).starts_with("es here."));
        assert_eq!(r.waiting(), 0);
    }

    #[test]
    fn a_duplicate_part_is_deleted_with_its_message() {
        let mut r = SimReader::new(3600);
        r.push(0, part(PART1), 0);
        assert!(r.push(1, part(PART1), 0).is_empty());
        r.push(2, part(PART2), 0);
        let ready = r.push(3, part(PART3), 0);
        assert_eq!(ready[0].sim_indexes, [0, 2, 3, 1]);
    }

    #[test]
    fn forgetting_leaves_the_parts_on_the_sim_and_hands_nothing_out() {
        let mut r = SimReader::new(3600);
        r.push(0, part(PART1), 0);
        r.forget();
        assert_eq!(r.waiting(), 0);
        assert_eq!(r.next_expiry(), None);
        // Read again later (the bot's next start): joined as if new.
        r.push(0, part(PART1), 10);
        r.push(1, part(PART2), 10);
        assert_eq!(r.push(2, part(PART3), 10)[0].sim_indexes, [0, 1, 2]);
    }
}
