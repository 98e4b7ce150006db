//! Call and SMS events out of the bot, to webhooks and to `GET /events`.
//!
//! This module owns the events' JSON ([`model`]), the bus that numbers and fans them out
//! without ever blocking the bot's loop ([`bus`]), and the webhook delivery threads
//! ([`webhook`]) with their `[events]` settings ([`settings`]). The SSE stream is the
//! API's ([`crate::api::sse`]); the `[dtmf]` menu is call audio's ([`crate::audio::dtmf`],
//! [`crate::audio::menu`]). The bot's loop publishes through
//! [`crate::bot::BotState::events`]; docs/events.md describes the whole for users.

pub mod bus;
pub mod model;
pub mod settings;
pub mod webhook;

pub use bus::{EventBus, Overflow, Recv, SubscribeError, Subscription};
pub use model::{CallNumbering, Event, EventKind};
pub use settings::{EventsSettings, EventsSettingsError, RetryPolicy};
pub use webhook::{DeliveryCounts, WebhookError, Webhooks};
