//! The voice-bot daemon (`sim7600 voice-bot`): phases 2 to 4 of the seed's design.
//!
//! It takes the port from smstools ([`crate::handoff::PortLease`]), initialises the modem
//! for calls, and then runs one event loop that is the port's only writer: URCs go through
//! modem-core's call state machine, calls are logged ([`crate::calls::log`]), SMS from the API's
//! queue are sent, smstools' spool is served (SMS received are written to its incoming/
//! folder, files in its outgoing/ folder are sent: [`crate::spool`]), the modem's health is
//! checked, and a vanished or restarted modem is reopened and re-initialised. What the loop
//! does next and when is decided by a sans-I/O core ([`core::BotCore`]); [`daemon`] carries
//! it out on the port. Other threads see the bot through [`crate::bot::BotState`].

pub mod core;
pub mod daemon;
pub mod notify;
pub mod settings;
pub mod state;

pub use daemon::{BotError, BotOptions, Stopped, exit_code, run};
pub use settings::{AnswerBy, BotSettings, BotSettingsError};
pub use state::{
    BotPhase, BotRequest, BotRequests, BotSnapshot, BotState, CurrentCall, CurrentCallState,
    DialRefused, ModemIdentity, Reply, SignalReport, UssdFailure,
};
