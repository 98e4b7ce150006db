//! Replies of the audio commands: all of them answer only `OK`, so this module re-exports
//! [`NoResponse`] for symmetry with the other groups.

pub use crate::command::NoResponse;
