//! Feeding port bytes into the ingress from a host reader, with exact accounting.
//!
//! atat's `try_write` hides two things a reader thread must act on (ATAT-NOTES.md): it
//! returns a short count when the ingress buffer is full, and it returns
//! `Err(UrcChannelFull)` after it has already taken some of the bytes, without saying how
//! many. [`feed`] writes through `write_buf`/`try_advance` instead, so it always knows which
//! bytes are in, and tells the caller what to do: nothing ([`Feed::Done`]), or wait for the
//! URC subscribers to read, call [`resume`] until it succeeds, then feed the rest
//! ([`Feed::UrcChannelFull`]). An MCU that reads with `Ingress::read_from` needs none of
//! this: the async `advance` waits for room in the channel by itself.

use atat::AtatIngress;

use super::ingress::ModemIngress;
use super::resources::INGRESS_BUF_LEN;

/// What became of the bytes given to [`feed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed<'b> {
    /// Every byte is in the ingress and digested as far as it can be.
    Done {
        /// Bytes thrown away because the ingress buffer was full without a line the digester
        /// could finish (it is sized so that this does not happen; a command in flight then
        /// times out and the next one works).
        discarded: usize,
    },
    /// The URC channel is full: the bytes before `rest` are in the ingress, but digestion
    /// stopped at a URC no subscriber has room for. Let the subscribers read, call
    /// [`resume`] until it returns `true`, then feed `rest`.
    UrcChannelFull {
        /// The bytes not yet given to the ingress.
        rest: &'b [u8],
    },
}

/// Gives `bytes` (as read from the port) to `ingress`; see [`Feed`] for what to do next.
pub fn feed<'b>(ingress: &mut ModemIngress<'_>, bytes: &'b [u8]) -> Feed<'b> {
    let mut rest = bytes;
    let mut discarded = 0;
    while !rest.is_empty() {
        let free = ingress.write_buf();
        if free.is_empty() {
            // Nothing can be digested out of a full buffer any more: drop it, or the link
            // would stop for good.
            ingress.clear();
            discarded += INGRESS_BUF_LEN;
            continue;
        }
        let n = free.len().min(rest.len());
        let (now, later) = rest.split_at(n);
        if let Some(slot) = free.get_mut(..n) {
            slot.copy_from_slice(now);
        }
        rest = later;
        if ingress.try_advance(n).is_err() {
            return Feed::UrcChannelFull { rest };
        }
    }
    Feed::Done { discarded }
}

/// Digests what is already in the ingress after [`Feed::UrcChannelFull`]; `true` when the
/// channel took every URC and the rest may be fed.
pub fn resume(ingress: &mut ModemIngress<'_>) -> bool {
    ingress.try_advance(0).is_ok()
}
