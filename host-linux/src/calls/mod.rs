//! Calls as the bot and its users see them: the tracker that follows the call in progress
//! ([`tracker`]), the call log ([`log`]), and what a dialled call does once it is answered,
//! in TwiML's verbs ([`twiml`]). The state the bot shares with the API, the MQTT bridge and
//! the agent gateway is the bot's ([`crate::bot::state`]): it carries the event bus, which
//! is above this room.

pub mod log;
pub mod tracker;
pub mod twiml;

pub use log::{CallEnd, CallLog, CallLogError, CallLogSettings, CallRecord, CallerIdKind};
