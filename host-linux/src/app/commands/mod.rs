//! The work of each `sim7600` subcommand, callable from tests: `detect`, `status`,
//! `restore`, `decode`, `list`, `watch-smstools`, and the diagnostic `hold`. Each returns a report (serializable
//! for `--json`) and renders it for a person; the CLI ([`crate::app::cli`]) only dispatches.

pub mod decode;
pub mod detect;
pub mod hold;
pub mod list;
pub mod restore;
pub mod status;
pub mod watch;
