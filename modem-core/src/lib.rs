//! The SIM7600 AT dialogue, `no_std` and without `alloc`.
#![no_std]
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod pdu;
