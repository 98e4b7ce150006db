//! Shared infrastructure below every other folder: the stop token ([`shutdown`]).

pub mod shutdown;
