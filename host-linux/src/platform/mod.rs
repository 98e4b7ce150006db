//! What every room of the house stands on: the serial link to the AT port ([`link`]),
//! signals and the process's stop token ([`signals`], [`shutdown`]), who holds a port
//! ([`holders`]), private files ([`private_files`]), durable file writes ([`durable`]),
//! logging ([`logging`]) and the metrics registry ([`metrics`]). Nothing here imports from
//! another folder of the crate.

pub mod durable;
pub mod holders;
pub mod link;
pub mod logging;
pub mod metrics;
pub mod private_files;
pub mod shutdown;
pub mod signals;
