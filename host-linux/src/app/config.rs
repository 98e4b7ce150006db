//! The `sim7600` configuration: one TOML file (default /etc/sim7600/config.toml, or
//! `--config FILE`), every key optional with the defaults below, unknown keys refused,
//! and an existing `voice_config.json` (`{"answer_after_rings": 3}`) read as it is when
//! `voice_config` names it. This module owns reading and
//! validating both; a bad file is refused at start with the file, the key and what is
//! wrong. dist/config.example.toml documents every key.
//!
//! ```toml
//! port = "/dev/ttyUSB2"
//! marker_dir = "/run/sim7600"
//! bot_unit = "sim7600-voice-bot"
//!
//! [handoff]
//! backend = "systemctl"        # or "suspend-file" or "commands"
//! unit = "smstools"
//!
//! [timeouts]
//! command_ms = 30000
//! stop_ms = 10000
//! start_ms = 10000
//! port_release_ms = 5000
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use modem_core::config::VoiceConfig;
use serde::{Deserialize, Serialize};

use crate::handoff::{BackendSpec, HandoffTimeouts, LeaseSettings, UnitName};

/// Where the config is read from without `--config`.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/sim7600/config.toml";
/// The AT port unless configured.
pub const DEFAULT_PORT: &str = "/dev/ttyUSB2";
/// The voice bot's systemd unit.
pub const DEFAULT_BOT_UNIT: &str = "sim7600-voice-bot";
/// The longest accepted timeout: an hour (a bound that long is a typo).
pub const MAX_TIMEOUT_MS: u64 = 3_600_000;

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config file {}: cannot read it: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this config (toml names the key, line and column).
    #[error("config file {}: {problem}", file.display())]
    Parse {
        /// The file.
        file: PathBuf,
        /// toml's message, naming the key.
        problem: String,
    },
    /// A value is well-formed but unusable.
    #[error("config file {}: key `{key}`: {problem}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// The key, dotted (`handoff.unit`).
        key: String,
        /// What is wrong.
        problem: String,
    },
}

fn default_port() -> PathBuf {
    PathBuf::from(DEFAULT_PORT)
}
fn default_marker_dir() -> PathBuf {
    PathBuf::from(crate::handoff::DEFAULT_MARKER_DIR)
}
fn default_bot_unit() -> UnitName {
    UnitName::try_from(DEFAULT_BOT_UNIT.to_owned())
        .unwrap_or_else(|_| unreachable!("a valid constant"))
}

/// The bounds of the handoff, in milliseconds, as the file has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutsMs {
    /// Each external program (systemctl, service, scripts) is killed after this.
    pub command_ms: u64,
    /// smstools must be inactive this long after the stop.
    pub stop_ms: u64,
    /// smstools must be active this long after the start.
    pub start_ms: u64,
    /// The port must be free this long after smstools stopped.
    pub port_release_ms: u64,
}

impl Default for TimeoutsMs {
    fn default() -> Self {
        let d = HandoffTimeouts::default();
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        TimeoutsMs {
            command_ms: ms(d.command),
            stop_ms: ms(d.stop),
            start_ms: ms(d.start),
            port_release_ms: ms(d.port_release),
        }
    }
}

impl TimeoutsMs {
    /// As durations.
    pub fn to_handoff(self) -> HandoffTimeouts {
        HandoffTimeouts {
            command: Duration::from_millis(self.command_ms),
            stop: Duration::from_millis(self.stop_ms),
            start: Duration::from_millis(self.start_ms),
            port_release: Duration::from_millis(self.port_release_ms),
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The SIM7600's AT port (a udev symlink is fine).
    #[serde(default = "default_port")]
    pub port: PathBuf,
    /// The modem named by its IMEI instead of `port`: its AT port is looked up at start
    /// and after every re-enumeration (see `crate::fleet`).
    #[serde(default)]
    pub imei: Option<String>,
    /// The modem named by its USB path (`1-1.2`, `sim7600 list` shows it) instead of
    /// `port`.
    #[serde(default)]
    pub usb_path: Option<String>,
    /// Where restore markers live.
    #[serde(default = "default_marker_dir")]
    pub marker_dir: PathBuf,
    /// A voice settings file (`{"answer_after_rings": 3}`) read as it is; none by
    /// default (`[bot] answer_after_rings` says the same in this file).
    #[serde(default)]
    pub voice_config: Option<PathBuf>,
    /// The voice bot's systemd unit, for `sim7600 status`.
    #[serde(default = "default_bot_unit")]
    pub bot_unit: UnitName,
    /// How smstools is taken off the port.
    #[serde(default)]
    pub handoff: BackendSpec,
    /// The bounds of the handoff's waits.
    #[serde(default)]
    pub timeouts: TimeoutsMs,
    /// The voice bot (`[bot]`: call log, answer policy, health check, reopen window, SMS
    /// retries); see `crate::bot::settings`.
    #[serde(default)]
    pub bot: crate::bot::BotSettings,
    /// The HTTP API (`[api]`: address, token, body limit); see `crate::api::settings`.
    #[serde(default)]
    pub api: crate::api::ApiSettings,
    /// The SMS queue (`[sms]`: folder, part limit, separate parts); see
    /// `crate::spool::queue::SmsSettings`.
    #[serde(default)]
    pub sms: crate::spool::queue::SmsSettings,
    /// Events out (`[events]`: webhook URLs, timeout, retries, queue length); see
    /// `crate::events::settings`.
    #[serde(default)]
    pub events: crate::events::EventsSettings,
    /// The DTMF menu (`[dtmf]`: key to action); see `crate::audio::dtmf`.
    #[serde(default)]
    pub dtmf: crate::audio::DtmfMenu,
    /// Call audio (`[audio]`: audio port, greeting, recordings, text to speech); see
    /// `crate::audio::session::AudioConfig`.
    #[serde(default)]
    pub audio: crate::audio::AudioConfig,
    /// Several modems (`[fleet]`: sysfs root, identity records, the supervisor's steps);
    /// see `crate::fleet::settings`.
    #[serde(default)]
    pub fleet: crate::fleet::FleetSettings,
    /// MQTT (`[mqtt]`: broker url, topic prefix, credentials, Home Assistant discovery);
    /// see `crate::mqtt::settings`.
    #[serde(default)]
    pub mqtt: crate::mqtt::MqttSettings,
    /// AI agents (`[agent]`: the Media Streams WebSocket answered calls are streamed to);
    /// see `crate::agent`.
    #[serde(default)]
    pub agent: crate::agent::AgentSettings,
    /// The Twilio-shaped REST paths (`[twilio]`: account SID and auth token); see
    /// `crate::agent::rest`.
    #[serde(default)]
    pub twilio: crate::agent::rest::TwilioSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: default_port(),
            imei: None,
            usb_path: None,
            marker_dir: default_marker_dir(),
            voice_config: None,
            bot_unit: default_bot_unit(),
            handoff: BackendSpec::default(),
            timeouts: TimeoutsMs::default(),
            bot: crate::bot::BotSettings::default(),
            api: crate::api::ApiSettings::default(),
            sms: crate::spool::queue::SmsSettings::default(),
            events: crate::events::EventsSettings::default(),
            dtmf: crate::audio::DtmfMenu::default(),
            audio: crate::audio::AudioConfig::default(),
            fleet: crate::fleet::FleetSettings::default(),
            mqtt: crate::mqtt::MqttSettings::default(),
            agent: crate::agent::AgentSettings::default(),
            twilio: crate::agent::rest::TwilioSettings::default(),
        }
    }
}

impl Config {
    /// Reads the config: `explicit` (from `--config`) must exist; without it the default
    /// file is read if it exists, and the defaults apply if it does not.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let file = explicit.unwrap_or(Path::new(DEFAULT_CONFIG_PATH));
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) if explicit.is_none() && e.kind() == std::io::ErrorKind::NotFound => {
                log::debug!("no {}: built-in defaults", file.display());
                return Ok(Config::default());
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    file: file.to_path_buf(),
                    source,
                });
            }
        };
        Config::parse(&text, file)
    }

    /// Parses and validates the text of `file`.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: file.to_path_buf(),
            problem: e.to_string().trim_end().to_owned(),
        })?;
        config.validate(file)?;
        Ok(config)
    }

    fn validate(&self, file: &Path) -> Result<(), ConfigError> {
        let invalid = |key: &str, problem: String| ConfigError::Invalid {
            file: file.to_path_buf(),
            key: key.to_owned(),
            problem,
        };
        for (key, path) in [
            ("port", Some(&self.port)),
            ("marker_dir", Some(&self.marker_dir)),
            ("voice_config", self.voice_config.as_ref()),
        ]
        .into_iter()
        .filter_map(|(key, path)| Some((key, path?)))
        {
            if path.as_os_str().is_empty() {
                return Err(invalid(key, "must not be empty".into()));
            }
        }
        if let Err((key, problem)) = self.handoff.validate() {
            return Err(invalid(&format!("handoff.{key}"), problem));
        }
        let t = &self.timeouts;
        for (key, ms) in [
            ("timeouts.command_ms", t.command_ms),
            ("timeouts.stop_ms", t.stop_ms),
            ("timeouts.start_ms", t.start_ms),
            ("timeouts.port_release_ms", t.port_release_ms),
        ] {
            if ms == 0 || ms > MAX_TIMEOUT_MS {
                return Err(invalid(
                    key,
                    format!("{ms} is out of range: allowed 1..={MAX_TIMEOUT_MS}"),
                ));
            }
        }
        if let Err(e) = self.bot.validate() {
            return Err(invalid(&format!("bot.{}", e.key), e.problem));
        }
        if let Err(e) = self.api.validate() {
            return Err(invalid(&format!("api.{}", e.key), e.problem));
        }
        if let Err(e) = self.sms.validate() {
            return Err(invalid(&format!("sms.{}", e.key), e.problem));
        }
        if let Err(e) = self.events.validate() {
            return Err(invalid(&format!("events.{}", e.key), e.problem));
        }
        if let Err(e) = self.dtmf.validate() {
            return Err(invalid(&format!("dtmf.\"{}\"", e.key), e.problem));
        }
        if let Err(e) = self.fleet.validate() {
            return Err(invalid(&format!("fleet.{}", e.key), e.problem));
        }
        if let Err(e) = self.mqtt.validate() {
            return Err(invalid(&format!("mqtt.{}", e.key), e.problem));
        }
        if self.imei.is_some() && self.usb_path.is_some() {
            return Err(invalid(
                "imei",
                "name the modem by `imei` or by `usb_path`, not both".into(),
            ));
        }
        if let Some(imei) = &self.imei {
            crate::fleet::identity::validate_imei(imei).map_err(|p| invalid("imei", p))?;
        }
        if let Some(usb) = &self.usb_path {
            crate::fleet::sysfs::validate_usb_path(usb).map_err(|p| invalid("usb_path", p))?;
        }
        Ok(())
    }

    /// How the config names the modem: `imei` or `usb_path` when given, else `port`;
    /// `port_flag` (`--port`) overrides them all.
    pub fn modem_selector(&self, port_flag: Option<&Path>) -> crate::fleet::ModemSelector {
        use crate::fleet::ModemSelector;
        match (port_flag, &self.imei, &self.usb_path) {
            (Some(p), _, _) => ModemSelector::Port(p.to_path_buf()),
            (None, Some(imei), _) => ModemSelector::Imei(imei.clone()),
            (None, None, Some(usb)) => ModemSelector::UsbPath(usb.clone()),
            (None, None, None) => ModemSelector::Port(self.port.clone()),
        }
    }

    /// The lease settings for `port` (the config's port unless a flag overrides it).
    pub fn lease_settings(&self, port: Option<&Path>) -> LeaseSettings {
        LeaseSettings {
            port: port.map_or_else(|| self.port.clone(), Path::to_path_buf),
            backend: self.handoff.clone(),
            marker_dir: self.marker_dir.clone(),
            timeouts: self.timeouts.to_handoff(),
        }
    }
}

/// Why a voice_config.json cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum VoiceConfigError {
    /// The file could not be read.
    #[error("voice config {}: cannot read it: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not a JSON object.
    #[error("voice config {}: {problem}", file.display())]
    Parse {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A key holds an unusable value.
    #[error("voice config {}: key `{key}`: {problem}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// The key.
        key: String,
        /// What is wrong.
        problem: String,
    },
}

/// The keys of voice_config.json this program reads.
pub const VOICE_CONFIG_KEYS: [&str; 1] = ["answer_after_rings"];

/// Reads a voice_config.json as it is. `answer_after_rings` (an integer,
/// 0..=255) is the one key read; missing, it is the seed's 3. Other keys are tolerated
/// and reported in the second value (the file is shared with the seed's other tools,
/// which may keep their own settings there).
pub fn load_voice_config(file: &Path) -> Result<(VoiceConfig, Vec<String>), VoiceConfigError> {
    let text = std::fs::read_to_string(file).map_err(|source| VoiceConfigError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    parse_voice_config(&text, file)
}

/// Parses the text of a voice_config.json: see [`load_voice_config`].
pub fn parse_voice_config(
    text: &str,
    file: &Path,
) -> Result<(VoiceConfig, Vec<String>), VoiceConfigError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| VoiceConfigError::Parse {
            file: file.to_path_buf(),
            problem: e.to_string(),
        })?;
    let Some(object) = value.as_object() else {
        return Err(VoiceConfigError::Parse {
            file: file.to_path_buf(),
            problem: "must be a JSON object such as {\"answer_after_rings\": 3}".into(),
        });
    };
    let ignored: Vec<String> = object
        .keys()
        .filter(|k| !VOICE_CONFIG_KEYS.contains(&k.as_str()))
        .cloned()
        .collect();
    let mut config = VoiceConfig::default();
    if let Some(rings) = object.get("answer_after_rings") {
        let invalid = |problem: String| VoiceConfigError::Invalid {
            file: file.to_path_buf(),
            key: "answer_after_rings".into(),
            problem,
        };
        let n = rings
            .as_i64()
            .ok_or_else(|| invalid(format!("{rings} is not an integer")))?;
        config = config
            .with_answer_after_rings(n)
            .map_err(|e| invalid(e.to_string()))?;
    }
    Ok((config, ignored))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/sim7600/config.toml"))
    }

    #[test]
    fn an_empty_file_gives_the_seed_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.port, Path::new("/dev/ttyUSB2"));
        assert!(
            matches!(c.handoff, BackendSpec::Systemctl { ref unit, .. } if unit.as_str() == "smstools")
        );
    }

    #[test]
    fn a_modem_named_by_imei_or_usb_path_but_not_both() {
        use crate::fleet::ModemSelector;
        let c = parse("imei = \"351602000330570\"\n").unwrap();
        assert_eq!(
            c.modem_selector(None),
            ModemSelector::Imei("351602000330570".into())
        );
        assert_eq!(
            c.modem_selector(Some(Path::new("/dev/x"))),
            ModemSelector::Port("/dev/x".into())
        );
        let c = parse("usb_path = \"1-1.2\"\n[fleet]\nsysfs_root = \"/tmp/sys\"\n").unwrap();
        assert_eq!(
            c.modem_selector(None),
            ModemSelector::UsbPath("1-1.2".into())
        );
        assert_eq!(c.fleet.sysfs_root, Path::new("/tmp/sys"));
        let both = parse("imei = \"351602000330570\"\nusb_path = \"1-1.2\"\n");
        assert!(both.unwrap_err().to_string().contains("not both"));
        let bad = parse("imei = \"12ab\"\n").unwrap_err().to_string();
        assert!(bad.contains("key `imei`") && bad.contains("12ab"), "{bad}");
        let bad = parse("usb_path = \"ttyUSB2\"\n").unwrap_err().to_string();
        assert!(bad.contains("key `usb_path`"), "{bad}");
        let bad = parse("[fleet]\nreenumerate_timeout_s = 0\n")
            .unwrap_err()
            .to_string();
        assert!(bad.contains("fleet.reenumerate_timeout_s"), "{bad}");
    }

    #[test]
    fn the_example_config_parses() {
        let text = include_str!("../../dist/config.example.toml");
        parse(text).unwrap();
    }

    #[test]
    fn a_suspend_file_backend_is_read_with_its_paths() {
        let c = parse(
            "[handoff]\nbackend = \"suspend-file\"\nsuspend_file = \"/var/lib/smstools/suspend\"\nsmsd_pid_file = \"/var/run/smstools/smsd.pid\"\n",
        )
        .unwrap();
        assert_eq!(
            c.handoff,
            BackendSpec::SuspendFile {
                suspend_file: "/var/lib/smstools/suspend".into(),
                smsd_pid_file: "/var/run/smstools/smsd.pid".into(),
                device: "GSM1".into(),
            }
        );
    }

    #[test]
    fn a_sysv_commands_backend_is_read_as_argument_lists() {
        let c = parse(
            "[handoff]\nbackend = \"commands\"\nstop = [\"service\", \"smstools\", \"stop\"]\nstart = [\"service\", \"smstools\", \"start\"]\nstatus = [\"service\", \"smstools\", \"status\"]\n",
        )
        .unwrap();
        assert!(matches!(c.handoff, BackendSpec::Commands { ref stop, .. } if stop.len() == 3));
    }

    #[test]
    fn an_unknown_key_is_refused_naming_the_file_and_the_key() {
        let e = parse("prot = \"/dev/ttyUSB3\"\n").unwrap_err().to_string();
        assert!(
            e.contains("/etc/sim7600/config.toml") && e.contains("prot"),
            "{e}"
        );
        let e = parse("[handoff]\nbackend = \"systemctl\"\nunti = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unti"), "{e}");
    }

    #[test]
    fn a_handoff_table_must_name_its_backend() {
        let e = parse("[handoff]\nunit = \"smstools\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("backend"), "{e}");
    }

    #[test]
    fn a_unit_name_that_could_inject_is_refused_naming_the_key() {
        let e = parse("[handoff]\nbackend = \"systemctl\"\nunit = \"--now\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--now") && e.contains("option"), "{e}");
    }

    #[test]
    fn an_unknown_backend_is_refused() {
        let e = parse("[handoff]\nbackend = \"upstart\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("upstart"), "{e}");
    }

    #[test]
    fn an_empty_command_is_refused_naming_the_key() {
        let e = parse(
            "[handoff]\nbackend = \"commands\"\nstop = []\nstart = [\"a\"]\nstatus = [\"b\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("handoff.stop"), "{e}");
    }

    #[test]
    fn a_zero_timeout_is_refused_naming_the_key() {
        let e = parse("[timeouts]\nstop_ms = 0\n").unwrap_err().to_string();
        assert!(
            e.contains("timeouts.stop_ms") && e.contains("out of range"),
            "{e}"
        );
    }

    #[test]
    fn an_events_table_and_a_dtmf_menu_are_read_and_checked() {
        let c = parse(
            "[events]\nwebhooks = [\"http://127.0.0.1:9000/hook\"]\nretries = 1\n\n\
             [dtmf]\n\"#\" = { action = \"hangup\" }\n",
        )
        .unwrap();
        assert_eq!(c.events.webhooks, ["http://127.0.0.1:9000/hook"]);
        assert!(!c.dtmf.is_empty());
        let e = parse("[events]\nwebhooks = [\"https://example.com/\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("events.webhooks") && e.contains("https"), "{e}");
        let e = parse("[dtmf]\n\"X\" = { action = \"hangup\" }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("dtmf.\"X\"") && e.contains("DTMF key"), "{e}");
    }

    #[test]
    fn a_wrongly_typed_value_is_refused() {
        let e = parse("port = 5\n").unwrap_err().to_string();
        assert!(e.contains("port"), "{e}");
    }

    #[test]
    fn an_explicit_config_that_does_not_exist_is_an_error() {
        let e = Config::load(Some(Path::new("/no/such/config.toml")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/no/such/config.toml"), "{e}");
    }

    #[test]
    fn a_flag_overrides_the_configured_port() {
        let c = parse("port = \"/dev/ttyUSB2\"\n").unwrap();
        assert_eq!(
            c.lease_settings(Some(Path::new("/dev/ttyUSB3"))).port,
            Path::new("/dev/ttyUSB3")
        );
        assert_eq!(c.lease_settings(None).port, Path::new("/dev/ttyUSB2"));
    }

    fn voice(text: &str) -> Result<(VoiceConfig, Vec<String>), VoiceConfigError> {
        parse_voice_config(text, Path::new("/etc/sim7600/voice_config.json"))
    }

    #[test]
    fn an_existing_voice_config_is_read_as_it_is() {
        let (c, ignored) = voice("{\"answer_after_rings\": 3}").unwrap();
        assert_eq!(c.answer_after_rings(), 3);
        assert!(ignored.is_empty());
    }

    #[test]
    fn other_keys_in_the_voice_config_are_tolerated_and_reported() {
        let (c, ignored) = voice("{\"answer_after_rings\": 5, \"greeting\": \"hi\"}").unwrap();
        assert_eq!(c.answer_after_rings(), 5);
        assert_eq!(ignored, vec!["greeting".to_owned()]);
    }

    #[test]
    fn a_bad_ring_count_is_refused_naming_the_key() {
        let e = voice("{\"answer_after_rings\": 300}")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("answer_after_rings") && e.contains("voice_config.json"),
            "{e}"
        );
        let e = voice("{\"answer_after_rings\": \"three\"}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an integer"), "{e}");
        assert!(voice("[3]").is_err());
        assert!(voice("{").is_err());
    }

    #[test]
    fn a_voice_config_without_the_key_uses_three_rings() {
        assert_eq!(voice("{}").unwrap().0.answer_after_rings(), 3);
    }
}
