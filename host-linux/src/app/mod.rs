//! The `sim7600` program itself: its command line ([`cli`]), its configuration file
//! ([`config`]), the work of each subcommand ([`commands`]), and the voice bot's start-up,
//! which wires the bot to the API, the webhooks, the MQTT bridge and the agent gateway
//! ([`voice_bot`]). The top of the house: nothing below imports from here.

pub mod cli;
pub mod commands;
pub mod config;
pub mod reload;
pub mod voice_bot;
