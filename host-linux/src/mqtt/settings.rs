//! The `[mqtt]` table: the broker, the topics, the credentials.
//!
//! ```toml
//! [mqtt]
//! url = "mqtt://broker.lan:1883"     # or mqtts://...:8883; no url: MQTT off
//! topic_prefix = "sim7600"
//! username = "bot"                   # or in the url: mqtt://bot:secret@broker.lan
//! password = "secret"
//! ca_file = "/etc/sim7600/broker-ca.pem"   # mqtts: else the system's CA store
//! discovery = true                   # Home Assistant discovery
//! discovery_prefix = "homeassistant"
//! notify_to = "+491761234567"        # the Home Assistant notify entity texts this number
//! queue = 256
//! keep_alive_s = 30
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The topic prefix unless configured.
pub const DEFAULT_TOPIC_PREFIX: &str = "sim7600";
/// Home Assistant's discovery prefix unless configured.
pub const DEFAULT_DISCOVERY_PREFIX: &str = "homeassistant";
/// Events waiting for the broker, at most (older ones are dropped and counted).
pub const DEFAULT_QUEUE: usize = 256;
/// The most a queue may be configured to hold.
pub const MAX_QUEUE: usize = 65_536;
/// MQTT keep-alive unless configured.
pub const DEFAULT_KEEP_ALIVE_S: u64 = 30;

fn default_prefix() -> String {
    DEFAULT_TOPIC_PREFIX.to_owned()
}
fn default_discovery_prefix() -> String {
    DEFAULT_DISCOVERY_PREFIX.to_owned()
}
fn default_true() -> bool {
    true
}
fn default_queue() -> usize {
    DEFAULT_QUEUE
}
fn default_keep_alive() -> u64 {
    DEFAULT_KEEP_ALIVE_S
}

/// The `[mqtt]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttSettings {
    /// The broker: `mqtt://host[:port]` (1883) or `mqtts://host[:port]` (8883), with
    /// `user:password@` if wanted. `None`: MQTT is off.
    #[serde(default)]
    pub url: Option<String>,
    /// Every topic of this bot is under `<topic_prefix>/<imei>/`.
    #[serde(default = "default_prefix")]
    pub topic_prefix: String,
    /// The user name (overrides the url's).
    #[serde(default)]
    pub username: Option<String>,
    /// The password (overrides the url's).
    #[serde(default)]
    pub password: Option<String>,
    /// For mqtts: the CA certificates (PEM) that signed the broker's; default: the
    /// system's store.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The MQTT client id (default `sim7600-<imei>`).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Whether Home Assistant discovery is published.
    #[serde(default = "default_true")]
    pub discovery: bool,
    /// Home Assistant's discovery prefix.
    #[serde(default = "default_discovery_prefix")]
    pub discovery_prefix: String,
    /// The number the Home Assistant notify entity sends its SMS to (no notify entity
    /// without it).
    #[serde(default)]
    pub notify_to: Option<String>,
    /// Events waiting for the broker, at most.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// MQTT keep-alive in seconds (the broker declares the bot offline after 1.5 times
    /// this without a word from it).
    #[serde(default = "default_keep_alive")]
    pub keep_alive_s: u64,
}

impl Default for MqttSettings {
    fn default() -> Self {
        MqttSettings {
            url: None,
            topic_prefix: default_prefix(),
            username: None,
            password: None,
            ca_file: None,
            client_id: None,
            discovery: true,
            discovery_prefix: default_discovery_prefix(),
            notify_to: None,
            queue: DEFAULT_QUEUE,
            keep_alive_s: DEFAULT_KEEP_ALIVE_S,
        }
    }
}

/// A `[mqtt]` value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct MqttSettingsError {
    /// The key within `[mqtt]`.
    pub key: &'static str,
    /// What is wrong.
    pub problem: String,
}

/// Where to connect, from the url.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    /// The host.
    pub host: String,
    /// The port.
    pub port: u16,
    /// TLS (`mqtts`).
    pub tls: bool,
    /// The user name, from the settings or the url.
    pub username: Option<String>,
    /// The password, from the settings or the url.
    pub password: Option<String>,
}

/// Whether `s` can be a topic level string (no wildcards, no empty levels at the ends).
pub fn validate_topic_prefix(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.contains(['+', '#', '\0']) {
        return Err(format!("{s:?} holds an MQTT wildcard (+ or #)"));
    }
    if s.starts_with('/') || s.ends_with('/') || s.contains("//") {
        return Err(format!("{s:?} has an empty topic level"));
    }
    Ok(())
}

impl MqttSettings {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), MqttSettingsError> {
        if self.url.is_some() {
            self.broker()?;
        }
        validate_topic_prefix(&self.topic_prefix).map_err(|problem| MqttSettingsError {
            key: "topic_prefix",
            problem,
        })?;
        validate_topic_prefix(&self.discovery_prefix).map_err(|problem| MqttSettingsError {
            key: "discovery_prefix",
            problem,
        })?;
        if self.queue == 0 || self.queue > MAX_QUEUE {
            return Err(MqttSettingsError {
                key: "queue",
                problem: format!("{} is out of range: allowed 1..={MAX_QUEUE}", self.queue),
            });
        }
        if !(5..=3600).contains(&self.keep_alive_s) {
            return Err(MqttSettingsError {
                key: "keep_alive_s",
                problem: format!("{} is out of range: allowed 5..=3600", self.keep_alive_s),
            });
        }
        if let Some(id) = &self.client_id
            && (id.is_empty() || id.len() > 64)
        {
            return Err(MqttSettingsError {
                key: "client_id",
                problem: "must be 1 to 64 characters".into(),
            });
        }
        Ok(())
    }

    /// The broker of `url` (`None` when MQTT is off).
    pub fn broker(&self) -> Result<Broker, MqttSettingsError> {
        let bad = |problem: String| MqttSettingsError {
            key: "url",
            problem,
        };
        let text = self
            .url
            .as_deref()
            .ok_or_else(|| bad("is not set".into()))?;
        let url = url::Url::parse(text).map_err(|e| bad(format!("{text:?} is not a URL: {e}")))?;
        let tls = match url.scheme() {
            "mqtt" | "tcp" => false,
            "mqtts" | "ssl" => true,
            other => {
                return Err(bad(format!(
                    "{other:?} is not an MQTT scheme: use mqtt:// or mqtts://"
                )));
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad(format!("{text:?} names no host")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if url.path() != "" && url.path() != "/" {
            return Err(bad(format!("{text:?}: an MQTT url has no path")));
        }
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let url_user = (!url.username().is_empty()).then(|| decode(url.username()));
        let url_pass = url.password().map(decode);
        Ok(Broker {
            host,
            port: url.port().unwrap_or(if tls { 8883 } else { 1883 }),
            tls,
            username: self.username.clone().or(url_user),
            password: self.password.clone().or(url_pass),
        })
    }

    /// The keep-alive.
    pub fn keep_alive(&self) -> Duration {
        Duration::from_secs(self.keep_alive_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_url(url: &str) -> MqttSettings {
        MqttSettings {
            url: Some(url.into()),
            ..MqttSettings::default()
        }
    }

    #[test]
    fn urls_give_host_port_tls_and_credentials() {
        let b = with_url("mqtt://broker.lan").broker().unwrap();
        assert_eq!(
            (b.host.as_str(), b.port, b.tls),
            ("broker.lan", 1883, false)
        );
        let b = with_url("mqtts://bot:s%40cret@10.0.0.2:8884")
            .broker()
            .unwrap();
        assert_eq!((b.host.as_str(), b.port, b.tls), ("10.0.0.2", 8884, true));
        assert_eq!(b.username.as_deref(), Some("bot"));
        assert_eq!(b.password.as_deref(), Some("s@cret"));
        let mut s = with_url("mqtt://u:p@h");
        s.username = Some("other".into());
        assert_eq!(s.broker().unwrap().username.as_deref(), Some("other"));
    }

    #[test]
    fn bad_values_are_refused_by_key() {
        for (url, needle) in [
            ("http://h", "not an MQTT scheme"),
            ("mqtt://", "no host"),
            ("broker:1883", "not an MQTT scheme"),
            ("mqtt://h/x", "no path"),
        ] {
            let e = with_url(url).validate().unwrap_err();
            assert_eq!(e.key, "url");
            assert!(e.problem.contains(needle), "{url}: {}", e.problem);
        }
        for prefix in ["", "a/#", "a/+/b", "/a", "a//b"] {
            let s = MqttSettings {
                topic_prefix: prefix.into(),
                ..MqttSettings::default()
            };
            assert_eq!(s.validate().unwrap_err().key, "topic_prefix", "{prefix}");
        }
        let s = MqttSettings {
            queue: 0,
            ..MqttSettings::default()
        };
        assert_eq!(s.validate().unwrap_err().key, "queue");
        assert!(MqttSettings::default().validate().is_ok());
    }
}
