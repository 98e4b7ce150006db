//! Call and SMS events out of the bot: to webhooks and to `GET /events` (server-sent
//! events), and the DTMF menu that turns a caller's key into an action.
//!
//! This module owns the events' JSON ([`model`]), the bus that numbers and fans them out
//! without ever blocking the bot's loop ([`bus`]), the webhook delivery threads
//! ([`webhook`]) and their `[events]` settings ([`settings`]), the SSE stream ([`sse`]),
//! and the `[dtmf]` menu: its table and decisions ([`dtmf`]), carried out with the
//! call's audio ([`menu`]). The bot's loop publishes through
//! [`crate::bot::BotState::events`]; docs/events.md describes the whole for users.

pub mod bus;
pub mod dtmf;
pub mod menu;
pub mod model;
pub mod settings;
pub mod sse;
pub mod webhook;

pub use bus::{EventBus, Overflow, Recv, SubscribeError, Subscription};
pub use dtmf::{DtmfMenu, DtmfMenuError, MenuAction};
pub use menu::{CallSpeaker, KeyOutcome, PreparedMenu};
pub use model::{CallNumbering, Event, EventKind};
pub use settings::{EventsSettings, EventsSettingsError, RetryPolicy};
pub use webhook::{DeliveryCounts, WebhookError, Webhooks};
