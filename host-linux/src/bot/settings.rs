//! The `[bot]` table of the configuration file: how the voice bot runs.
//!
//! This module owns [`BotSettings`] (call log, answer policy, call limit, health check,
//! reopen window, SMS retries) with its defaults and its validation, and turns it together
//! with the seed's voice_config.json into modem-core's [`VoiceConfig`]. Every key is
//! optional; unknown keys are refused (a misspelt key must not be silently ignored), and a
//! value out of range is refused naming the key and the allowed range.

use std::path::PathBuf;
use std::time::Duration;

use modem_core::config::{AnswerMode, VoiceConfig};
use serde::{Deserialize, Serialize};

use crate::calls::log::{self as call_log, CallLogSettings};

/// Default call log file.
pub const DEFAULT_CALL_LOG: &str = "/var/lib/sim7600/calls.jsonl";
/// Default health check period: `AT+CSQ` every 30 s (a liveness check every 30 s; CSQ
/// also refreshes the signal shown by `/status`).
pub const DEFAULT_HEALTH_INTERVAL_S: u64 = 30;
/// Default number of failed health checks in a row before the port is reopened.
pub const DEFAULT_HEALTH_FAILURES: u32 = 2;
/// Default time the bot tries to get a vanished modem back before it exits.
pub const DEFAULT_REOPEN_TIMEOUT_S: u64 = 60;
/// Default tries per SMS before it is marked failed.
pub const DEFAULT_SMS_MAX_ATTEMPTS: u32 = 5;
/// Default pause before the first retry of an SMS; it doubles with each try.
pub const DEFAULT_SMS_RETRY_INITIAL_S: u64 = 5;
/// Default longest pause between two tries of an SMS.
pub const DEFAULT_SMS_RETRY_MAX_S: u64 = 300;
/// Default period at which the bot looks at the SMS queue on its own (besides being woken
/// by the API): catches messages queued while no bot ran, or by another process.
pub const DEFAULT_QUEUE_SCAN_S: u64 = 10;
/// Default time the bot waits at start for a modem whose port does not exist yet.
pub const DEFAULT_WAIT_FOR_PORT_S: u64 = 300;
/// Longest accepted period or timeout, in seconds (one day).
pub const MAX_SECONDS: u64 = 86_400;

/// Who answers calls: the modem on its own (`ATS0=n`, the seed's way) or the bot (`ATA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerBy {
    /// `ATS0=<answer_after_rings>`.
    #[default]
    Modem,
    /// `ATS0=0`; the bot sends `ATA` on ring `answer_after_rings`.
    Host,
}

/// The `[bot]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BotSettings {
    /// The call log (JSON lines).
    pub call_log: PathBuf,
    /// Rotate the call log at this size, in bytes.
    pub call_log_max_bytes: u64,
    /// Rotated call logs kept.
    pub call_log_keep: u32,
    /// Answer on this ring (`ATS0=<n>`, or the bot's `ATA` on it); absent: a configured
    /// voice_config.json's value, else 3.
    pub answer_after_rings: Option<u8>,
    /// Who answers.
    pub answer: AnswerBy,
    /// Hang up (`AT+CHUP`) after this many seconds of talk; 0 or absent: no limit.
    pub max_call_seconds: Option<u32>,
    /// Speaker volume, `AT+CLVL` (0..=5).
    pub volume: u8,
    /// Ringing silent this long means the caller gave up, in ms.
    pub ring_silence_ms: u32,
    /// Health check period, in seconds.
    pub health_interval_s: u64,
    /// Failed health checks in a row that make the bot reopen the port.
    pub health_failures: u32,
    /// How long the bot tries to get the modem back before it exits, in seconds.
    pub reopen_timeout_s: u64,
    /// How long the bot waits at start for the port to appear (a modem powered late),
    /// in seconds; 0: as long as it takes.
    pub wait_for_port_s: u64,
    /// Tries per SMS.
    pub sms_max_attempts: u32,
    /// Pause before the first retry of an SMS, in seconds (doubling).
    pub sms_retry_initial_s: u64,
    /// Longest pause between tries, in seconds.
    pub sms_retry_max_s: u64,
    /// The bot looks at the SMS queue at least this often, in seconds.
    pub queue_scan_s: u64,
    /// smstools' configuration, read for the spool folders the bot serves while it holds
    /// the port (`--smstools-conf` overrides it). A file that does not exist means there
    /// is no smstools spool to serve (logged).
    pub smstools_conf: PathBuf,
    /// Serve smstools' spool while the bot holds the port: SMS received are written to
    /// its incoming/ folder, files in outgoing/ (and checked/) are sent. `false`: received
    /// SMS stay on the SIM until smsd has the port again, and outgoing/ waits.
    pub spool: bool,
    /// A concatenated SMS whose parts stop coming is given up (each part that came
    /// written as a file of its own, as smsd does) this long after its latest part, in
    /// seconds.
    pub sms_parts_expiry_s: u64,
}

impl Default for BotSettings {
    fn default() -> Self {
        BotSettings {
            call_log: PathBuf::from(DEFAULT_CALL_LOG),
            call_log_max_bytes: call_log::DEFAULT_MAX_BYTES,
            call_log_keep: call_log::DEFAULT_KEEP,
            answer_after_rings: None,
            answer: AnswerBy::Modem,
            max_call_seconds: None,
            volume: modem_core::config::DEFAULT_VOLUME,
            ring_silence_ms: modem_core::config::DEFAULT_RING_SILENCE_MS,
            health_interval_s: DEFAULT_HEALTH_INTERVAL_S,
            health_failures: DEFAULT_HEALTH_FAILURES,
            reopen_timeout_s: DEFAULT_REOPEN_TIMEOUT_S,
            wait_for_port_s: DEFAULT_WAIT_FOR_PORT_S,
            sms_max_attempts: DEFAULT_SMS_MAX_ATTEMPTS,
            sms_retry_initial_s: DEFAULT_SMS_RETRY_INITIAL_S,
            sms_retry_max_s: DEFAULT_SMS_RETRY_MAX_S,
            queue_scan_s: DEFAULT_QUEUE_SCAN_S,
            smstools_conf: PathBuf::from(crate::spool::DEFAULT_SMSD_CONF),
            spool: true,
            sms_parts_expiry_s: modem_core::pdu::DEFAULT_EXPIRY_S,
        }
    }
}

/// A `[bot]` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[bot] {key}: {problem}")]
pub struct BotSettingsError {
    /// The key.
    pub key: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

fn range(key: &'static str, value: u64, min: u64, max: u64) -> Result<(), BotSettingsError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(BotSettingsError {
            key,
            problem: format!("{value} is out of range: allowed {min}..={max}"),
        })
    }
}

impl BotSettings {
    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), BotSettingsError> {
        if self.call_log.as_os_str().is_empty() {
            return Err(BotSettingsError {
                key: "call_log",
                problem: "must name a file".into(),
            });
        }
        range(
            "call_log_max_bytes",
            self.call_log_max_bytes,
            call_log::MIN_MAX_BYTES,
            u64::MAX,
        )?;
        range(
            "call_log_keep",
            self.call_log_keep.into(),
            0,
            call_log::MAX_KEEP.into(),
        )?;
        range("health_interval_s", self.health_interval_s, 1, MAX_SECONDS)?;
        range("health_failures", self.health_failures.into(), 1, 100)?;
        range("reopen_timeout_s", self.reopen_timeout_s, 0, MAX_SECONDS)?;
        range("wait_for_port_s", self.wait_for_port_s, 0, MAX_SECONDS)?;
        range("sms_max_attempts", self.sms_max_attempts.into(), 1, 100)?;
        range(
            "sms_retry_initial_s",
            self.sms_retry_initial_s,
            0,
            MAX_SECONDS,
        )?;
        range(
            "sms_retry_max_s",
            self.sms_retry_max_s,
            self.sms_retry_initial_s,
            MAX_SECONDS,
        )?;
        range("queue_scan_s", self.queue_scan_s, 1, MAX_SECONDS)?;
        range(
            "sms_parts_expiry_s",
            self.sms_parts_expiry_s,
            1,
            MAX_SECONDS,
        )?;
        if self.spool && self.smstools_conf.as_os_str().is_empty() {
            return Err(BotSettingsError {
                key: "smstools_conf",
                problem: "must name smstools' configuration file (or set spool = false)".into(),
            });
        }
        // The voice values are checked by modem-core, which names them too.
        self.voice_config(modem_core::config::DEFAULT_ANSWER_AFTER_RINGS)
            .map(|_| ())
    }

    /// The call log's settings.
    pub fn call_log_settings(&self) -> CallLogSettings {
        CallLogSettings {
            path: self.call_log.clone(),
            max_bytes: self.call_log_max_bytes,
            keep: self.call_log_keep,
        }
    }

    /// modem-core's voice config: `answer_after_rings` from voice_config.json, the rest
    /// from this table.
    pub fn voice_config(&self, answer_after_rings: u8) -> Result<VoiceConfig, BotSettingsError> {
        let named = |key: &'static str| {
            move |e: modem_core::config::ConfigError| BotSettingsError {
                key,
                problem: e.to_string(),
            }
        };
        let mode = match self.answer {
            AnswerBy::Modem => AnswerMode::Modem,
            AnswerBy::Host => AnswerMode::Host,
        };
        let mut config = VoiceConfig::new(answer_after_rings.into(), self.volume.into())
            .map_err(named("volume"))?
            .with_answer_mode(mode)
            .with_ring_silence_ms(self.ring_silence_ms.into())
            .map_err(named("ring_silence_ms"))?;
        if let Some(max) = self.max_call_seconds.filter(|s| *s > 0) {
            config = config
                .with_max_call_duration_s(Some(max.into()))
                .map_err(named("max_call_seconds"))?;
        }
        Ok(config)
    }

    /// The health check period.
    pub fn health_interval(&self) -> Duration {
        Duration::from_secs(self.health_interval_s)
    }

    /// The smsd.conf whose spool is served, `--smstools-conf` (`flag`) before
    /// `smstools_conf`; `None` with `spool = false` (a flag does not switch it on).
    pub fn served_smstools_conf(&self, flag: Option<&std::path::Path>) -> Option<PathBuf> {
        self.spool
            .then(|| flag.map_or_else(|| self.smstools_conf.clone(), std::path::Path::to_path_buf))
    }

    /// The expiry of incomplete concatenated SMS.
    pub fn sms_parts_expiry(&self) -> Duration {
        Duration::from_secs(self.sms_parts_expiry_s)
    }

    /// How long to wait at start for the port; `None`: no bound (`wait_for_port_s = 0`).
    pub fn wait_for_port(&self) -> Option<Duration> {
        (self.wait_for_port_s > 0).then(|| Duration::from_secs(self.wait_for_port_s))
    }

    /// The reopen window.
    pub fn reopen_timeout(&self) -> Duration {
        Duration::from_secs(self.reopen_timeout_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<BotSettings, String> {
        let s: BotSettings = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        s.validate().map_err(|e| e.to_string())?;
        Ok(s)
    }

    #[test]
    fn an_empty_table_is_the_documented_defaults() {
        let s = parse("").unwrap();
        assert_eq!(s, BotSettings::default());
        assert_eq!(s.health_interval(), Duration::from_secs(30));
        let v = s.voice_config(3).unwrap();
        assert_eq!(v.answer_after_rings(), 3);
        assert_eq!(v.answer_mode(), AnswerMode::Modem);
        assert_eq!(v.max_call_duration_s(), None);
    }

    #[test]
    fn host_answering_and_a_call_limit_reach_the_voice_config() {
        let s = parse("answer = \"host\"\nmax_call_seconds = 120\nvolume = 3").unwrap();
        let v = s.voice_config(2).unwrap();
        assert_eq!(v.answer_mode(), AnswerMode::Host);
        assert_eq!(v.max_call_duration_s(), Some(120));
        assert_eq!(v.volume(), 3);
        // The host answers, so the modem is told not to.
        assert_eq!(v.modem_auto_answer_rings(), 0);
    }

    #[test]
    fn a_misspelt_key_is_refused_by_name() {
        let err = parse("max_call_second = 5").unwrap_err();
        assert!(err.contains("max_call_second"), "{err}");
    }

    #[test]
    fn out_of_range_values_name_their_key() {
        for (text, key) in [
            ("volume = 9", "volume"),
            ("health_interval_s = 0", "health_interval_s"),
            ("call_log_keep = 10", "call_log_keep"),
            (
                "sms_retry_initial_s = 10\nsms_retry_max_s = 5",
                "sms_retry_max_s",
            ),
            ("ring_silence_ms = 100", "ring_silence_ms"),
            ("call_log = \"\"", "call_log"),
            ("smstools_conf = \"\"", "smstools_conf"),
            ("sms_parts_expiry_s = 0", "sms_parts_expiry_s"),
            ("wait_for_port_s = 86401", "wait_for_port_s"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn the_wait_for_a_late_port_is_five_minutes_and_zero_means_no_bound() {
        assert_eq!(
            parse("").unwrap().wait_for_port(),
            Some(Duration::from_secs(300))
        );
        assert_eq!(parse("wait_for_port_s = 0").unwrap().wait_for_port(), None);
    }

    #[test]
    fn zero_max_call_seconds_means_no_limit() {
        let s = parse("max_call_seconds = 0").unwrap();
        assert_eq!(s.voice_config(3).unwrap().max_call_duration_s(), None);
    }
}
