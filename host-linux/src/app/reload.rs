//! SIGHUP: the voice bot re-reads config.toml and voice_config.json and applies what can
//! change while it holds the port; what cannot is named in the log as needing a restart.
//!
//! This module owns the decision: [`plan`] reads and checks the new files exactly as a
//! start would (a broken file is refused with its name and key, and the running settings
//! stay), and sorts every changed key into "applied now" or "needs a restart". Applied
//! now: `answer_after_rings` (voice_config.json) and the `[bot]` keys of the call policy
//! (`answer`, `volume`, `ring_silence_ms`, `max_call_seconds`), carried out by the bot's
//! loop once no call is in progress (the modem gets its new `ATS0`/`AT+CLVL` through the
//! driver); `[events]` (the webhooks are replaced); `[dtmf]`; `[audio]` for the calls to
//! come. Everything else (the port, the handoff, the API's address and token, the SMS
//! queue, the spool, the bot's timers) is read at start only.

use super::voice_bot::{self as command, SetupError, VoiceBotArgs};
use crate::app::config::{Config, ConfigError};

pub use crate::bot::state::LiveSettings;

/// The keys whose change a running bot applies (dotted, as in the config file; whole
/// tables end in `.`).
pub const LIVE_KEYS: [&str; 9] = [
    "voice_config",
    "bot.answer_after_rings",
    "bot.answer",
    "bot.volume",
    "bot.ring_silence_ms",
    "bot.max_call_seconds",
    "events.",
    "dtmf.",
    "audio.",
];

/// Keys of live tables that still need a restart for part of the program: the HTTP API's
/// `speak` keeps the TTS command it started with.
pub const API_AUDIO_KEYS: [&str; 2] = ["audio.enabled", "audio.tts"];

/// Why a reload was refused (the running settings stay).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// config.toml is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// voice_config.json or a section is unusable.
    #[error(transparent)]
    Setup(#[from] SetupError),
}

/// A checked reload: the new config, what the loop applies, and what waits for a restart.
#[derive(Debug)]
pub struct ReloadPlan {
    /// The config as read now.
    pub config: Config,
    /// The settings for the bot's loop.
    pub live: LiveSettings,
    /// Whether `[events]` changed (the webhooks are replaced).
    pub events_changed: bool,
    /// The changed keys that need a restart, dotted.
    pub needs_restart: Vec<String>,
}

/// The config as the bot runs it: the flags applied over the file.
pub fn effective(config: &Config, args: &VoiceBotArgs) -> Config {
    let mut c = config.clone();
    if let Some(p) = &args.port {
        c.port = p.clone();
    }
    if let Some(v) = &args.voice_config {
        c.voice_config = Some(v.clone());
    }
    if let Some(s) = &args.smstools_conf {
        c.bot.smstools_conf = s.clone();
    }
    if let Some(Ok(listen)) = args.listen.as_deref().map(str::parse) {
        c.api.listen = listen;
    }
    c
}

/// The dotted keys (two levels: `port`, `bot.volume`, `handoff.unit`) whose values
/// differ between `old` and `new`, sorted.
pub fn changed_keys(old: &Config, new: &Config) -> Vec<String> {
    let (Ok(a), Ok(b)) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        return vec!["(the configuration could not be compared)".into()];
    };
    let mut keys = Vec::new();
    diff("", &a, &b, 0, &mut keys);
    keys.sort();
    keys.dedup();
    keys
}

fn diff(
    prefix: &str,
    a: &serde_json::Value,
    b: &serde_json::Value,
    depth: u8,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) if depth < 2 => {
            for key in x.keys().chain(y.keys()) {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                let null = Value::Null;
                diff(
                    &name,
                    x.get(key).unwrap_or(&null),
                    y.get(key).unwrap_or(&null),
                    depth + 1,
                    out,
                );
            }
        }
        _ if a != b => out.push(prefix.to_owned()),
        _ => {}
    }
}

/// Whether a changed `key` is applied by a running bot.
pub fn is_live(key: &str) -> bool {
    !API_AUDIO_KEYS
        .iter()
        .any(|k| key == *k || key.starts_with(&format!("{k}.")))
        && LIVE_KEYS.iter().any(|live| {
            if let Some(table) = live.strip_suffix('.') {
                key == table || key.starts_with(live)
            } else {
                key == *live
            }
        })
}

/// Reads `config_file` (the `--config` file, or the default) and voice_config.json again
/// and checks them as a start would. `started` is the config the bot started with (what
/// needs a restart is compared with it), `events` the webhooks' settings in force.
pub fn plan(
    config_file: Option<&std::path::Path>,
    started: &Config,
    events: &crate::events::EventsSettings,
    args: &VoiceBotArgs,
) -> Result<ReloadPlan, ReloadError> {
    let config = Config::load(config_file)?;
    let options = command::options(&config, args)?;
    let changed = changed_keys(&effective(started, args), &effective(&config, args));
    let needs_restart = changed.iter().filter(|k| !is_live(k)).cloned().collect();
    Ok(ReloadPlan {
        events_changed: config.events != *events,
        live: LiveSettings {
            voice: options.voice,
            dtmf: options.dtmf,
            audio: options.audio,
        },
        config,
        needs_restart,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        Config::parse(text, std::path::Path::new("test.toml")).unwrap()
    }

    #[test]
    fn the_call_policy_events_and_menu_are_live_the_port_and_api_are_not() {
        for key in [
            "voice_config",
            "bot.answer_after_rings",
            "bot.answer",
            "bot.volume",
            "events.webhooks",
            "dtmf.1",
            "audio.greeting",
        ] {
            assert!(is_live(key), "{key}");
        }
        for key in [
            "port",
            "handoff.unit",
            "api.listen",
            "api.token",
            "bot.health_interval_s",
            "bot.smstools_conf",
            "sms.queue_dir",
            "audio.tts",
            "audio.enabled",
            "bot.volumes",
        ] {
            assert!(!is_live(key), "{key}");
        }
    }

    #[test]
    fn changed_keys_are_named_two_levels_deep() {
        let old = parse("");
        let new = parse(
            "port = \"/dev/sim7600-at\"\n[bot]\nvolume = 2\n[api]\nlisten = \"127.0.0.1:9999\"\n",
        );
        assert_eq!(
            changed_keys(&old, &new),
            ["api.listen", "bot.volume", "port"]
        );
        assert!(changed_keys(&old, &old).is_empty());
    }

    #[test]
    fn a_flag_hides_a_change_of_what_it_overrides() {
        let old = parse("");
        let new = parse("port = \"/dev/sim7600-at\"\n");
        let args = VoiceBotArgs {
            port: Some("/dev/ttyUSB3".into()),
            ..VoiceBotArgs::default()
        };
        assert!(changed_keys(&effective(&old, &args), &effective(&new, &args)).is_empty());
    }

    #[test]
    fn a_reload_reads_both_files_and_sorts_the_changes() {
        let dir = tempfile::tempdir().unwrap();
        let voice = dir.path().join("voice_config.json");
        std::fs::write(&voice, r#"{"answer_after_rings": 5}"#).unwrap();
        let file = dir.path().join("config.toml");
        let text = |port: &str, extra: &str| {
            format!(
                "voice_config = {:?}\nport = {port:?}\n{extra}",
                voice.display().to_string()
            )
        };
        std::fs::write(&file, text("/dev/ttyUSB2", "")).unwrap();
        let running = Config::load(Some(&file)).unwrap();
        std::fs::write(&file, text("/dev/ttyUSB3", "[bot]\nvolume = 1\n")).unwrap();
        let args = VoiceBotArgs::default();
        let plan = plan(Some(&file), &running, &running.events, &args).unwrap();
        assert_eq!(plan.live.voice.answer_after_rings(), 5);
        assert_eq!(plan.live.voice.volume(), 1);
        assert_eq!(plan.needs_restart, ["port"]);
        assert!(!plan.events_changed);
    }

    #[test]
    fn a_broken_file_refuses_the_reload_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, "[bot]\nvolume = 9\n").unwrap();
        let err = plan(
            Some(&file),
            &Config::default(),
            &Config::default().events,
            &VoiceBotArgs::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("config.toml") && err.contains("volume"),
            "{err}"
        );
        let voice = dir.path().join("voice_config.json");
        std::fs::write(&voice, r#"{"answer_after_rings": "three"}"#).unwrap();
        std::fs::write(
            &file,
            format!("voice_config = {:?}\n", voice.display().to_string()),
        )
        .unwrap();
        let err = plan(
            Some(&file),
            &Config::default(),
            &Config::default().events,
            &VoiceBotArgs::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("voice_config.json"), "{err}");
    }
}
