//! The crate's infrastructure below every feature: durable file writes ([`durable`]).

pub mod durable;
