//! The SIM7600 AT dialogue, `no_std` and without `alloc`.
#![no_std]
#![deny(unsafe_code)]
#![deny(missing_docs)]

// Must come first so that every module sees its macros.
mod fmt;
mod params;

pub mod call;
pub mod command;
pub mod config;
pub mod digest;
pub mod driver;
pub mod line;
pub mod pdu;
pub mod urc;
