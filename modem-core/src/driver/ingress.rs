//! The link's ingress: atat's `Ingress` around the SIM7600 digester, with the digester told
//! what atat did with its results.
//!
//! atat's `Ingress` calls the digester, acts on what it returns, and tells it nothing back.
//! Two of its actions matter to a digester that holds a reply across calls
//! ([`IngressNotices`]): `try_advance` failing with `UrcChannelFull` (the URC just returned
//! was not published and must be returned again, or it is lost) and `clear` (the held
//! offsets point into bytes that are gone). [`ModemIngress`] is atat's `Ingress` with both
//! reported to the digester; everything else is atat's. It implements `AtatIngress`, so
//! `try_write`, `read_from` (whose own clears on a full buffer or a read error go through
//! it too) and the driver's [`feed`](super::feed) work on it unchanged.

use atat::{AtatIngress, Ingress, IngressError, ResponseSlot};

use crate::digest::IngressNotices;
use crate::urc::Urc;

use super::resources::{
    ModemDigester, ModemUrcChannel, RESPONSE_LEN, URC_CAPACITY, URC_SUBSCRIBERS,
};

/// atat's ingress with the driver's sizes.
type AtatModemIngress<'a> =
    Ingress<'a, ModemDigester<'a>, Urc, RESPONSE_LEN, URC_CAPACITY, URC_SUBSCRIBERS>;

/// The ingress of a SIM7600 link: feed it every byte read from the port.
pub struct ModemIngress<'a> {
    inner: AtatModemIngress<'a>,
    notices: &'a IngressNotices,
}

impl core::fmt::Debug for ModemIngress<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ModemIngress")
            .field("notices", self.notices)
            .finish_non_exhaustive()
    }
}

impl<'a> ModemIngress<'a> {
    /// An ingress digesting with `digester` (which is given `notices`, so the two always
    /// agree) over `buf`, signalling replies in `res_slot` and publishing URCs to
    /// `urc_channel`, whose only publisher it takes. `buf` should hold at least
    /// [`INGRESS_BUF_LEN`](super::INGRESS_BUF_LEN) bytes. [`Resources::split`](super::Resources::split)
    /// does all of this.
    pub fn new(
        digester: ModemDigester<'a>,
        notices: &'a IngressNotices,
        buf: &'a mut [u8],
        res_slot: &'a ResponseSlot<RESPONSE_LEN>,
        urc_channel: &'a ModemUrcChannel,
    ) -> Self {
        Self {
            inner: Ingress::new(digester.with_notices(notices), buf, res_slot, urc_channel),
            notices,
        }
    }
}

impl AtatIngress for ModemIngress<'_> {
    fn write_buf(&mut self) -> &mut [u8] {
        self.inner.write_buf()
    }

    fn try_advance(&mut self, commit: usize) -> Result<(), IngressError> {
        let result = self.inner.try_advance(commit);
        if result == Err(IngressError::UrcChannelFull) {
            self.notices.urc_refused();
        }
        result
    }

    async fn advance(&mut self, commit: usize) {
        // The async path waits for room in the URC channel: every URC is published.
        self.inner.advance(commit).await;
    }

    fn clear(&mut self) {
        self.inner.clear();
        self.notices.buffer_cleared();
    }
}
