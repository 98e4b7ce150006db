//! The voice configuration: how the modem is initialised for calls and how calls are answered.
//!
//! This module owns [`VoiceConfig`], the one validated description of the seed's
//! `voice_config.json` (`answer_after_rings`) plus the settings the seed hard-coded (speaker
//! volume, whether `AT+CEXTERNTONE=1` may fail) and the call policy the call state machine
//! needs (who answers, how long a call may last, how long a ring may stay silent before the
//! call counts as missed). It does no parsing of files: the host reads JSON or TOML and
//! passes the raw numbers to [`VoiceConfig::new`] and the `with_*` setters, which refuse an
//! out-of-range value with a [`ConfigError`] naming the field and the allowed range. The
//! setters take `i64` on purpose, so a value such as `300` or `-1` read from a file reaches
//! the validation instead of being truncated by a cast on the way in.

use core::fmt;

/// Largest accepted `answer_after_rings` (`ATS0` takes 0..=255).
pub const MAX_ANSWER_AFTER_RINGS: u8 = 255;
/// Largest accepted speaker volume (`AT+CLVL` takes 0..=5).
pub const MAX_VOLUME: u8 = 5;
/// Default `answer_after_rings`: the seed's `voice_config.json` example (`ATS0=3`).
pub const DEFAULT_ANSWER_AFTER_RINGS: u8 = 3;
/// Default speaker volume: the seed sends `AT+CLVL=5`.
pub const DEFAULT_VOLUME: u8 = 5;
/// Smallest accepted ring silence, in milliseconds: a network repeats RING about every
/// 3 s, so anything shorter would call a ringing call missed between two rings.
pub const MIN_RING_SILENCE_MS: u32 = 4_000;
/// Largest accepted ring silence, in milliseconds.
pub const MAX_RING_SILENCE_MS: u32 = 60_000;
/// Default ring silence: RING comes about every 3 s (SIM7600-PROTOCOL.md), so 8 s without
/// one means the caller gave up even when the modem sent no `MISSED_CALL`.
pub const DEFAULT_RING_SILENCE_MS: u32 = 8_000;
/// Largest accepted maximum call duration, in seconds (one day).
pub const MAX_CALL_DURATION_LIMIT_S: u32 = 86_400;

/// Who answers an incoming call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AnswerMode {
    /// The modem answers by itself on the n-th ring (`ATS0=<answer_after_rings>`): the
    /// seed's way. The call state machine only observes.
    #[default]
    Modem,
    /// The modem never answers by itself (`ATS0=0`); the call state machine asks the host
    /// to answer (`ATA`) on the n-th ring, so the host can decide per caller.
    Host,
}

/// How init has the modem announce SMS (`AT+CNMI`): every received message is stored and
/// announced with `+CMTI`; status reports either stay with the modem or come to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SmsIndication {
    /// `AT+CNMI=2,1,0,0,0`: store and announce with `+CMTI`, which is what smstools
    /// expects of a modem it gets back.
    #[default]
    StoreAndNotify,
    /// `AT+CNMI=2,1,0,1,0`: the same, and each status report routed to the host as
    /// `+CDS`, for a host that stands in for smsd's `report = yes`.
    StoreAndRouteReports,
}

/// Whether an init step may fail without failing the whole init.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StepPolicy {
    /// A failure of the step fails init.
    Required,
    /// A failure of the step is a warning in the init report.
    Optional,
}

/// A field of [`VoiceConfig`], named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ConfigField {
    /// `answer_after_rings`
    AnswerAfterRings,
    /// `volume`
    Volume,
    /// `max_call_duration_s`
    MaxCallDurationS,
    /// `ring_silence_ms`
    RingSilenceMs,
}

impl ConfigField {
    /// The field's name as it appears in configuration files.
    pub const fn name(self) -> &'static str {
        match self {
            Self::AnswerAfterRings => "answer_after_rings",
            Self::Volume => "volume",
            Self::MaxCallDurationS => "max_call_duration_s",
            Self::RingSilenceMs => "ring_silence_ms",
        }
    }
}

impl fmt::Display for ConfigField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A configuration value that cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ConfigError {
    /// The value lies outside `min..=max`.
    OutOfRange {
        /// Which field.
        field: ConfigField,
        /// The value given.
        value: i64,
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfRange {
                field,
                value,
                min,
                max,
            } => write!(
                f,
                "{field} = {value} is out of range: allowed {min}..={max}"
            ),
        }
    }
}

impl core::error::Error for ConfigError {}

/// Checks `value` against `min..=max` and names `field` when it is outside.
fn in_range(field: ConfigField, value: i64, min: i64, max: i64) -> Result<i64, ConfigError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::OutOfRange {
            field,
            value,
            min,
            max,
        })
    }
}

/// Validated voice settings: the modem's init values and the call policy.
///
/// Built with [`VoiceConfig::new`] (or [`Default`], the seed's values) and refined with the
/// `with_*` setters; every value it holds is in range, so the driver and the call machine
/// never check again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct VoiceConfig {
    answer_after_rings: u8,
    volume: u8,
    answer_mode: AnswerMode,
    external_tone: StepPolicy,
    max_call_duration_s: Option<u32>,
    ring_silence_ms: u32,
}

impl Default for VoiceConfig {
    /// The seed's values: answer after 3 rings by the modem, volume 5, CEXTERNTONE optional,
    /// no call duration limit, 8 s ring silence.
    fn default() -> Self {
        Self {
            answer_after_rings: DEFAULT_ANSWER_AFTER_RINGS,
            volume: DEFAULT_VOLUME,
            answer_mode: AnswerMode::Modem,
            external_tone: StepPolicy::Optional,
            max_call_duration_s: None,
            ring_silence_ms: DEFAULT_RING_SILENCE_MS,
        }
    }
}

impl VoiceConfig {
    /// A configuration with `answer_after_rings` (0..=255, 0 = never answer) and `volume`
    /// (0..=5); everything else as in [`Default`].
    pub fn new(answer_after_rings: i64, volume: i64) -> Result<Self, ConfigError> {
        Self::default()
            .with_answer_after_rings(answer_after_rings)?
            .with_volume(volume)
    }

    /// Sets on which ring a call is answered (0..=255; 0 = never answer).
    pub fn with_answer_after_rings(mut self, rings: i64) -> Result<Self, ConfigError> {
        let rings = in_range(
            ConfigField::AnswerAfterRings,
            rings,
            0,
            i64::from(MAX_ANSWER_AFTER_RINGS),
        )?;
        self.answer_after_rings = u8::try_from(rings).unwrap_or(MAX_ANSWER_AFTER_RINGS);
        Ok(self)
    }

    /// Sets the speaker volume (0..=5, `AT+CLVL`).
    pub fn with_volume(mut self, volume: i64) -> Result<Self, ConfigError> {
        let volume = in_range(ConfigField::Volume, volume, 0, i64::from(MAX_VOLUME))?;
        self.volume = u8::try_from(volume).unwrap_or(MAX_VOLUME);
        Ok(self)
    }

    /// Sets who answers (the modem by `ATS0`, or the host on the call machine's request).
    #[must_use]
    pub fn with_answer_mode(mut self, mode: AnswerMode) -> Self {
        self.answer_mode = mode;
        self
    }

    /// Sets whether `AT+CEXTERNTONE=1` may fail. It is a SIM800-family command that the
    /// SIM7600 manual does not list, so the default is [`StepPolicy::Optional`].
    #[must_use]
    pub fn with_external_tone(mut self, policy: StepPolicy) -> Self {
        self.external_tone = policy;
        self
    }

    /// Sets the longest a call may last before the call machine asks to hang up
    /// (1..=86400 s), or `None` for no limit.
    pub fn with_max_call_duration_s(mut self, seconds: Option<i64>) -> Result<Self, ConfigError> {
        self.max_call_duration_s = match seconds {
            None => None,
            Some(s) => {
                let s = in_range(
                    ConfigField::MaxCallDurationS,
                    s,
                    1,
                    i64::from(MAX_CALL_DURATION_LIMIT_S),
                )?;
                Some(u32::try_from(s).unwrap_or(MAX_CALL_DURATION_LIMIT_S))
            }
        };
        Ok(self)
    }

    /// Sets how long ringing may fall silent before the call counts as missed
    /// (4000..=60000 ms).
    pub fn with_ring_silence_ms(mut self, ms: i64) -> Result<Self, ConfigError> {
        let ms = in_range(
            ConfigField::RingSilenceMs,
            ms,
            i64::from(MIN_RING_SILENCE_MS),
            i64::from(MAX_RING_SILENCE_MS),
        )?;
        self.ring_silence_ms = u32::try_from(ms).unwrap_or(MAX_RING_SILENCE_MS);
        Ok(self)
    }

    /// On which ring a call is answered; 0 = never.
    pub const fn answer_after_rings(&self) -> u8 {
        self.answer_after_rings
    }

    /// Speaker volume, 0..=5.
    pub const fn volume(&self) -> u8 {
        self.volume
    }

    /// Who answers.
    pub const fn answer_mode(&self) -> AnswerMode {
        self.answer_mode
    }

    /// Whether `AT+CEXTERNTONE=1` may fail.
    pub const fn external_tone(&self) -> StepPolicy {
        self.external_tone
    }

    /// Longest call in seconds before the call machine asks to hang up, if limited.
    pub const fn max_call_duration_s(&self) -> Option<u32> {
        self.max_call_duration_s
    }

    /// How long ringing may fall silent before the call counts as missed, in ms.
    pub const fn ring_silence_ms(&self) -> u32 {
        self.ring_silence_ms
    }

    /// The value for `ATS0=<n>`: `answer_after_rings` when the modem answers, 0 when the
    /// host decides (the modem must then never answer by itself).
    pub const fn modem_auto_answer_rings(&self) -> u8 {
        match self.answer_mode {
            AnswerMode::Modem => self.answer_after_rings,
            AnswerMode::Host => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_config_answers_after_three_rings_at_volume_five() {
        let config = VoiceConfig::new(3, 5).unwrap();
        assert_eq!(config, VoiceConfig::default());
        assert_eq!(config.modem_auto_answer_rings(), 3);
        assert_eq!(config.external_tone(), StepPolicy::Optional);
    }

    #[test]
    fn in_host_mode_the_modem_is_told_never_to_answer() {
        let config = VoiceConfig::new(2, 4)
            .unwrap()
            .with_answer_mode(AnswerMode::Host);
        assert_eq!(config.answer_after_rings(), 2);
        assert_eq!(config.modem_auto_answer_rings(), 0);
    }
}
