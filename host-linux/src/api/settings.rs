//! The `[api]` table of the configuration file: where the HTTP API listens, its bearer
//! token, its body size limits (JSON requests, and WAV bodies played into a call), its
//! connection cap and timeouts, and the host names it answers to.
//!
//! This module owns [`ApiSettings`], its defaults and its validation. The one rule with
//! teeth: an address other than loopback needs a token (the bot refuses to start without
//! one), since the API sends SMS at the owner's expense. A token, once configured, is
//! required on every request whatever the address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

/// Default address: loopback only, the port the seed's unified API used.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8088);
/// Default limit on a request body, in bytes. A ten-part UCS-2 text is 670 characters;
/// written as JSON `\uXXXX` escapes (surrogate pairs twice) that is under 9 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024;
/// Smallest accepted body limit: room for a one-part text and the JSON around it.
pub const MIN_MAX_BODY_BYTES: usize = 512;
/// Largest accepted body limit (a 255-part text as escapes fits in it).
pub const MAX_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default limit on a WAV body (`POST /calls/current/play`): 8 MiB, four minutes of
/// 16 kHz mono, 47 s of CD audio.
pub const DEFAULT_MAX_AUDIO_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Smallest accepted WAV body limit (a second of 16 kHz mono and its header).
pub const MIN_MAX_AUDIO_BODY_BYTES: usize = 64 * 1024;
/// Largest accepted WAV body limit: the most an audio clip may have
/// ([`crate::audio::format::MAX_AUDIO_FILE_BYTES`]).
pub const MAX_MAX_AUDIO_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Shortest accepted token: anything shorter is guessable.
pub const MIN_TOKEN_LEN: usize = 16;
/// Longest accepted token.
pub const MAX_TOKEN_LEN: usize = 512;
/// Default cap on open connections (event streams included); one more is answered 503.
/// Room for 300 idle clients and 50 slow ones beside the real traffic.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Accepted range of `max_connections`.
pub const MAX_CONNECTIONS_RANGE: std::ops::RangeInclusive<usize> = 16..=16384;
/// Default time a client has to send a request's head (request line and headers), from
/// its connection or from the end of its previous request.
pub const DEFAULT_HEADER_TIMEOUT_S: u64 = 10;
/// Default time a client has to send a request's whole body once its head is read.
pub const DEFAULT_BODY_TIMEOUT_S: u64 = 30;
/// Accepted range of both timeouts, in seconds.
pub const TIMEOUT_RANGE_S: std::ops::RangeInclusive<u64> = 1..=3600;
/// Most names `allowed_hosts` may list.
pub const MAX_ALLOWED_HOSTS: usize = 64;

/// The `[api]` table.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSettings {
    /// Address and port (`--listen` overrides it).
    pub listen: SocketAddr,
    /// Bearer token every request must carry (`Authorization: Bearer <token>`); required
    /// when `listen` is not a loopback address.
    pub token: Option<String>,
    /// Largest request body, in bytes; a bigger one is answered 413.
    pub max_body_bytes: usize,
    /// Largest WAV body of `POST /calls/current/play`, in bytes; a bigger one is
    /// answered 413.
    pub max_audio_body_bytes: usize,
    /// Most connections open at once (event and audio streams included); one more is
    /// answered 503.
    pub max_connections: usize,
    /// Seconds a client has to send a request's head; then the connection is closed.
    pub header_timeout_s: u64,
    /// Seconds a client has to send a request's body once its head is read; then it is
    /// answered 408 and the connection is closed.
    pub body_timeout_s: u64,
    /// Host names (besides `localhost`, the listen address and, when listening on every
    /// address, any IP literal) that a request's `Host` and `Origin` may name: the names
    /// under which the API is reached on a network or through a reverse proxy.
    pub allowed_hosts: Vec<String>,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN,
            token: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_audio_body_bytes: DEFAULT_MAX_AUDIO_BODY_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout_s: DEFAULT_HEADER_TIMEOUT_S,
            body_timeout_s: DEFAULT_BODY_TIMEOUT_S,
            allowed_hosts: Vec::new(),
        }
    }
}

// The token is a secret: never in logs or panics.
impl std::fmt::Debug for ApiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiSettings")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_audio_body_bytes", &self.max_audio_body_bytes)
            .field("max_connections", &self.max_connections)
            .field("header_timeout_s", &self.header_timeout_s)
            .field("body_timeout_s", &self.body_timeout_s)
            .field("allowed_hosts", &self.allowed_hosts)
            .finish()
    }
}

/// An `[api]` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[api] {key}: {problem}")]
pub struct ApiSettingsError {
    /// The key.
    pub key: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl ApiSettings {
    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), ApiSettingsError> {
        if !(MIN_MAX_BODY_BYTES..=MAX_MAX_BODY_BYTES).contains(&self.max_body_bytes) {
            return Err(ApiSettingsError {
                key: "max_body_bytes",
                problem: format!(
                    "{} is out of range: allowed {MIN_MAX_BODY_BYTES}..={MAX_MAX_BODY_BYTES}",
                    self.max_body_bytes
                ),
            });
        }
        if !(MIN_MAX_AUDIO_BODY_BYTES..=MAX_MAX_AUDIO_BODY_BYTES)
            .contains(&self.max_audio_body_bytes)
        {
            return Err(ApiSettingsError {
                key: "max_audio_body_bytes",
                problem: format!(
                    "{} is out of range: allowed {MIN_MAX_AUDIO_BODY_BYTES}..={MAX_MAX_AUDIO_BODY_BYTES}",
                    self.max_audio_body_bytes
                ),
            });
        }
        if !MAX_CONNECTIONS_RANGE.contains(&self.max_connections) {
            return Err(ApiSettingsError {
                key: "max_connections",
                problem: format!(
                    "{} is out of range: allowed {}..={}",
                    self.max_connections,
                    MAX_CONNECTIONS_RANGE.start(),
                    MAX_CONNECTIONS_RANGE.end()
                ),
            });
        }
        for (key, value) in [
            ("header_timeout_s", self.header_timeout_s),
            ("body_timeout_s", self.body_timeout_s),
        ] {
            if !TIMEOUT_RANGE_S.contains(&value) {
                return Err(ApiSettingsError {
                    key,
                    problem: format!(
                        "{value} is out of range: allowed {}..={} seconds",
                        TIMEOUT_RANGE_S.start(),
                        TIMEOUT_RANGE_S.end()
                    ),
                });
            }
        }
        if self.allowed_hosts.len() > MAX_ALLOWED_HOSTS {
            return Err(ApiSettingsError {
                key: "allowed_hosts",
                problem: format!(
                    "lists {} names, more than the {MAX_ALLOWED_HOSTS} allowed",
                    self.allowed_hosts.len()
                ),
            });
        }
        if let Some(bad) = self.allowed_hosts.iter().find(|h| !is_host_name(h)) {
            return Err(ApiSettingsError {
                key: "allowed_hosts",
                problem: format!(
                    "{bad:?} is not a host name (letters, digits, '-' and '.', without a port)"
                ),
            });
        }
        match &self.token {
            None if !self.listen.ip().is_loopback() => Err(ApiSettingsError {
                key: "token",
                problem: format!(
                    "required: the API listens on {}, which is not a loopback address, so \
                     every request must carry a bearer token",
                    self.listen
                ),
            }),
            None => Ok(()),
            Some(token) => check_token(token),
        }
    }
}

/// A DNS name as `allowed_hosts` takes it: labels of letters, digits and `-`, no port.
fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn check_token(token: &str) -> Result<(), ApiSettingsError> {
    let problem = if token.len() < MIN_TOKEN_LEN {
        format!(
            "has {} characters, fewer than the {MIN_TOKEN_LEN} required",
            token.len()
        )
    } else if token.len() > MAX_TOKEN_LEN {
        format!(
            "has {} characters, more than the {MAX_TOKEN_LEN} allowed",
            token.len()
        )
    } else if let Some(c) = token.chars().find(|c| !c.is_ascii_graphic()) {
        // RFC 6750's b64token is visible ASCII; a space or newline is a copy-paste slip.
        format!("contains {c:?}: only visible ASCII characters are allowed")
    } else {
        return Ok(());
    };
    Err(ApiSettingsError {
        key: "token",
        problem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_listens_on_loopback_8088_without_a_token() {
        let settings = ApiSettings::default();
        assert_eq!(settings.listen.to_string(), "127.0.0.1:8088");
        assert_eq!(settings.validate(), Ok(()));
    }

    #[test]
    fn a_public_address_without_a_token_is_refused_naming_the_token() {
        let settings: ApiSettings = toml::from_str("listen = \"0.0.0.0:8088\"").unwrap();
        let error = settings.validate().unwrap_err();
        assert_eq!(error.key, "token");
        assert!(error.problem.contains("0.0.0.0:8088"), "{error}");
        let with_token = ApiSettings {
            token: Some("s3cret-s3cret-s3cret".into()),
            ..settings
        };
        assert_eq!(with_token.validate(), Ok(()));
    }

    #[test]
    fn ipv6_loopback_needs_no_token() {
        let settings: ApiSettings = toml::from_str("listen = \"[::1]:9000\"").unwrap();
        assert_eq!(settings.validate(), Ok(()));
    }

    #[test]
    fn weak_or_mangled_tokens_and_odd_limits_are_refused() {
        for (toml_text, key, words) in [
            ("token = \"short\"", "token", "fewer than"),
            ("token = \"abcdefghijklmnop \"", "token", "' '"),
            ("max_body_bytes = 10", "max_body_bytes", "out of range"),
            (
                "max_audio_body_bytes = 1024",
                "max_audio_body_bytes",
                "out of range",
            ),
            ("max_connections = 2", "max_connections", "out of range"),
            ("header_timeout_s = 0", "header_timeout_s", "out of range"),
            ("body_timeout_s = 7200", "body_timeout_s", "out of range"),
            (
                "allowed_hosts = [\"bot.example:8088\"]",
                "allowed_hosts",
                "not a host name",
            ),
        ] {
            let settings: ApiSettings = toml::from_str(toml_text).unwrap();
            let error = settings.validate().unwrap_err();
            assert_eq!(error.key, key, "{toml_text}");
            assert!(error.problem.contains(words), "{error}");
        }
        assert!(toml::from_str::<ApiSettings>("port = 1").is_err());
    }

    #[test]
    fn the_token_is_not_shown_by_debug() {
        let settings = ApiSettings {
            token: Some("s3cret-s3cret-s3cret".into()),
            ..ApiSettings::default()
        };
        assert!(!format!("{settings:?}").contains("s3cret"));
    }
}
