//! Scenarios for `VoiceConfig`: what a host may build from a config file, and the errors a
//! person sees when a value is out of range.
#![allow(clippy::unwrap_used)]

use modem_core::config::{
    AnswerMode, ConfigError, ConfigField, DEFAULT_RING_SILENCE_MS, StepPolicy, VoiceConfig,
};

fn out_of_range(field: ConfigField, value: i64, min: i64, max: i64) -> ConfigError {
    ConfigError::OutOfRange {
        field,
        value,
        min,
        max,
    }
}

#[test]
fn every_ring_count_from_zero_to_255_is_accepted() {
    for rings in 0..=255 {
        let config = VoiceConfig::new(rings, 5).unwrap();
        assert_eq!(i64::from(config.answer_after_rings()), rings);
        assert_eq!(i64::from(config.modem_auto_answer_rings()), rings);
    }
}

#[test]
fn zero_rings_means_the_modem_never_answers() {
    let config = VoiceConfig::new(0, 5).unwrap();
    assert_eq!(config.modem_auto_answer_rings(), 0);
}

#[test]
fn a_ring_count_of_256_names_the_field_and_the_range() {
    let err = VoiceConfig::new(256, 5).unwrap_err();
    assert_eq!(
        err,
        out_of_range(ConfigField::AnswerAfterRings, 256, 0, 255)
    );
    assert_eq!(
        err.to_string(),
        "answer_after_rings = 256 is out of range: allowed 0..=255"
    );
}

#[test]
fn a_negative_ring_count_is_refused_not_wrapped() {
    let err = VoiceConfig::new(-1, 5).unwrap_err();
    assert_eq!(err, out_of_range(ConfigField::AnswerAfterRings, -1, 0, 255));
}

#[test]
fn volume_zero_to_five_is_accepted_and_six_is_refused() {
    for volume in 0..=5 {
        assert_eq!(
            i64::from(VoiceConfig::new(3, volume).unwrap().volume()),
            volume
        );
    }
    let err = VoiceConfig::new(3, 6).unwrap_err();
    assert_eq!(err.to_string(), "volume = 6 is out of range: allowed 0..=5");
    assert_eq!(
        VoiceConfig::new(3, -3).unwrap_err(),
        out_of_range(ConfigField::Volume, -3, 0, 5)
    );
}

#[test]
fn a_bad_ring_count_is_reported_before_a_bad_volume() {
    let err = VoiceConfig::new(1000, 1000).unwrap_err();
    assert_eq!(
        err,
        out_of_range(ConfigField::AnswerAfterRings, 1000, 0, 255)
    );
}

#[test]
fn host_mode_keeps_the_ring_count_for_the_call_machine_but_sets_ats0_to_zero() {
    let config = VoiceConfig::new(4, 5)
        .unwrap()
        .with_answer_mode(AnswerMode::Host);
    assert_eq!(config.answer_mode(), AnswerMode::Host);
    assert_eq!(config.answer_after_rings(), 4);
    assert_eq!(config.modem_auto_answer_rings(), 0);
}

#[test]
fn cexterntone_is_optional_unless_the_host_requires_it() {
    let config = VoiceConfig::default();
    assert_eq!(config.external_tone(), StepPolicy::Optional);
    let strict = config.with_external_tone(StepPolicy::Required);
    assert_eq!(strict.external_tone(), StepPolicy::Required);
}

#[test]
fn a_call_duration_limit_must_be_between_one_second_and_one_day() {
    let config = VoiceConfig::default();
    assert_eq!(config.max_call_duration_s(), None);
    assert_eq!(
        config
            .with_max_call_duration_s(Some(600))
            .unwrap()
            .max_call_duration_s(),
        Some(600)
    );
    assert_eq!(
        config.with_max_call_duration_s(Some(0)).unwrap_err(),
        out_of_range(ConfigField::MaxCallDurationS, 0, 1, 86_400)
    );
    assert_eq!(
        config
            .with_max_call_duration_s(Some(86_401))
            .unwrap_err()
            .to_string(),
        "max_call_duration_s = 86401 is out of range: allowed 1..=86400"
    );
    let limited = config.with_max_call_duration_s(Some(60)).unwrap();
    assert_eq!(
        limited
            .with_max_call_duration_s(None)
            .unwrap()
            .max_call_duration_s(),
        None
    );
}

#[test]
fn ring_silence_shorter_than_two_ring_periods_is_refused() {
    let config = VoiceConfig::default();
    assert_eq!(config.ring_silence_ms(), DEFAULT_RING_SILENCE_MS);
    assert_eq!(
        config.with_ring_silence_ms(3_999).unwrap_err(),
        out_of_range(ConfigField::RingSilenceMs, 3_999, 4_000, 60_000)
    );
    assert_eq!(
        config
            .with_ring_silence_ms(60_000)
            .unwrap()
            .ring_silence_ms(),
        60_000
    );
    assert!(config.with_ring_silence_ms(60_001).is_err());
}

#[test]
fn extreme_values_from_a_file_do_not_overflow() {
    assert_eq!(
        VoiceConfig::new(i64::MAX, 5).unwrap_err(),
        out_of_range(ConfigField::AnswerAfterRings, i64::MAX, 0, 255)
    );
    assert_eq!(
        VoiceConfig::new(3, i64::MIN).unwrap_err(),
        out_of_range(ConfigField::Volume, i64::MIN, 0, 5)
    );
}
