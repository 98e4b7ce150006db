//! `sim7600 voice-bot`: from the config file and the flags to a running bot, and from how
//! it ended to the exit status.
//!
//! This module owns the assembly only: the `[bot]` table and a voice_config.json
//! become [`BotOptions`], the call log and the SMS queue are opened, the HTTP API is
//! started beside the bot, the process's stop token goes into the bot's state (the first
//! shutdown signal wakes the bot's loop directly), SIGHUP's reloads are handled beside
//! the bot, and [`crate::bot::run`] does the rest. Exit statuses are
//! [`crate::bot::exit_code`]'s. The order in which everything stops is
//! [`crate::platform::shutdown`]'s.

use std::path::{Path, PathBuf};
use std::time::Duration;

use modem_core::config::DEFAULT_ANSWER_AFTER_RINGS;

use crate::api::{ApiContext, ApiError, ApiServer, ApiSettings};
use crate::app::commands::status;
use crate::app::config::{Config, load_voice_config};
use crate::bot::Stopped;
use crate::bot::daemon::{self, BotOptions, exit_code};
use crate::bot::notify::Notifier;
use crate::bot::state::{BotRequests, BotState};
use crate::calls::CallLog;
use crate::platform::shutdown::Shutdown;
use crate::platform::signals::Signals;
use crate::spool::queue::SmsQueue;

/// While the bot waits for a late modem, systemd is told this often that the start goes
/// on...
pub const EXTEND_START_EVERY: Duration = Duration::from_secs(30);
/// ...for this much longer (the unit's `TimeoutStartSec=`: time enough for the handoff and
/// the init once the port is there).
pub const EXTEND_START_BY: Duration = Duration::from_secs(90);

/// The flags of `sim7600 voice-bot` (each overrides the config file).
#[derive(Debug, Clone, Default)]
pub struct VoiceBotArgs {
    /// `--port`.
    pub port: Option<PathBuf>,
    /// `--voice-config`.
    pub voice_config: Option<PathBuf>,
    /// `--listen ADDR:PORT` for the HTTP API.
    pub listen: Option<String>,
    /// `--smstools-conf PATH`: smstools' configuration, for the spool the bot serves.
    pub smstools_conf: Option<PathBuf>,
    /// `--config FILE`, read again on SIGHUP (`None`: the default file).
    pub config_file: Option<PathBuf>,
}

/// Why the bot could not be set up (before the port was touched).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// voice_config.json is unusable.
    #[error(transparent)]
    Voice(#[from] crate::app::config::VoiceConfigError),
    /// A `[bot]` value is unusable.
    #[error(transparent)]
    Settings(#[from] crate::bot::BotSettingsError),
    /// The SMS queue folder cannot be opened.
    #[error(transparent)]
    Queue(#[from] crate::spool::queue::QueueError),
    /// The `[dtmf]` menu cannot be carried out (a `play` file that is not audio, ...).
    #[error(transparent)]
    Dtmf(#[from] crate::audio::DtmfMenuError),
    /// The `[audio]` settings cannot work (a greeting that is not audio, ...).
    #[error(transparent)]
    Audio(#[from] crate::audio::session::AudioConfigError),
    /// The settings contradict each other.
    #[error("config: {problem}")]
    Conflict {
        /// What contradicts what.
        problem: String,
    },
    /// The modem named by IMEI or USB path is not present (or not known) now.
    #[error("cannot find the modem: {0}")]
    Modem(#[from] crate::fleet::identity::IdentityError),
    /// `--listen` is not an address.
    #[error("--listen {value:?} is not ADDR:PORT: {problem}")]
    Listen {
        /// What was given.
        value: String,
        /// What is wrong.
        problem: String,
    },
}

/// `answer_after_rings` from a voice_config.json: the file's value, or the default 3 (with
/// a warning) when the file does not exist; a file that exists but is unusable is an error.
pub fn answer_after_rings(file: &Path) -> Result<u8, crate::app::config::VoiceConfigError> {
    if !file.exists() {
        log::warn!(
            "voice config {} does not exist: answering after {DEFAULT_ANSWER_AFTER_RINGS} rings",
            file.display()
        );
        return Ok(DEFAULT_ANSWER_AFTER_RINGS);
    }
    let (voice, ignored) = load_voice_config(file)?;
    if !ignored.is_empty() {
        log::info!(
            "voice config {}: keys not for this program left alone: {}",
            file.display(),
            ignored.join(", ")
        );
    }
    Ok(voice.answer_after_rings())
}

/// The rings to answer on: `[bot] answer_after_rings`, or the voice_config.json named by
/// `--voice-config` or `voice_config` (read only when named), or 3. Both saying different
/// numbers is refused: which one was meant cannot be told.
pub fn rings(config: &Config, flag: Option<&Path>) -> Result<u8, SetupError> {
    let file = flag.or(config.voice_config.as_deref());
    let from_file = file.map(answer_after_rings).transpose()?;
    match (config.bot.answer_after_rings, from_file, file) {
        (Some(ours), Some(theirs), Some(file)) if ours != theirs => Err(SetupError::Conflict {
            problem: format!(
                "[bot] answer_after_rings = {ours} but {} says {theirs}: keep one of them",
                file.display()
            ),
        }),
        (Some(ours), _, _) => Ok(ours),
        (None, Some(theirs), _) => Ok(theirs),
        (None, None, _) => Ok(DEFAULT_ANSWER_AFTER_RINGS),
    }
}

/// The bot's options from the config and the flags.
pub fn options(config: &Config, args: &VoiceBotArgs) -> Result<BotOptions, SetupError> {
    let rings = rings(config, args.voice_config.as_deref())?;
    let voice = config.bot.voice_config(rings)?;
    let selector = config.modem_selector(args.port.as_deref());
    let (port, mut modem) = crate::fleet::ModemPlan::resolve(selector, config.fleet.clone())?;
    if !matches!(modem.selector, crate::fleet::ModemSelector::Port(_)) {
        log::info!(
            "{}: AT port {} (USB path {})",
            modem.selector,
            port.display(),
            modem.usb_path.as_deref().unwrap_or("?")
        );
    }
    let listen = args
        .listen
        .clone()
        .unwrap_or_else(|| config.api.listen.to_string());
    modem.api = Some(listen);
    Ok(BotOptions {
        lease: config.lease_settings(Some(&port)),
        modem,
        voice,
        smstools_conf: config
            .bot
            .served_smstools_conf(args.smstools_conf.as_deref()),
        settings: config.bot.clone(),
        // With call audio, menu sounds are converted to its format and `speak` uses its
        // TTS command; without, sound keys are reported as having no audio.
        dtmf: crate::audio::PreparedMenu::prepare(
            &config.dtmf,
            config.audio.format(),
            config.audio.enabled.then_some(&config.audio.tts),
        )?,
        // Checked here, so that a bad greeting stops the start with the file named.
        audio: if config.audio.enabled {
            Some(config.audio.prepare()?)
        } else {
            None
        },
    })
}

/// Runs the bot with `state`/`requests` until it ends, calling `on_reload` for each
/// SIGHUP (once the program reloads on it: [`Signals::reload_on_hangup`]); returns how it
/// ended. `state` carries the process's stop token ([`BotState::with_shutdown`] with
/// [`Signals::shutdown`]): the first shutdown signal reaches the bot's loop through it.
pub fn run_until_signal(
    options: &BotOptions,
    state: &BotState,
    requests: &mut BotRequests,
    queue: Option<&SmsQueue>,
    notifier: &dyn Notifier,
    signals: &Signals,
    on_reload: &mut dyn FnMut(),
) -> Result<Stopped, daemon::BotError> {
    // Stopped when the bot ends, by itself or not (a panic included).
    let finished = Shutdown::new();
    std::thread::scope(|s| {
        // The bot runs beside this thread, which carries out the reloads (they replace the
        // webhooks this thread owns).
        let bot = std::thread::Builder::new()
            .name("voice-bot".into())
            .spawn_scoped(s, || {
                let _ended = finished.stop_on_drop();
                daemon::run(options, state, requests, queue, notifier)
            });
        let bot = match bot {
            Ok(b) => b,
            Err(e) => {
                return Err(daemon::BotError::Link(
                    crate::platform::link::LinkError::Io {
                        port: options.lease.port.clone(),
                        what: "starting the bot thread",
                        problem: e.to_string(),
                    },
                ));
            }
        };
        while signals.next_reload(&finished).is_some() {
            on_reload();
        }
        if let Some(signal) = signals.requested() {
            log::info!("{signal}: the bot gives the port back");
        }
        match bot.join() {
            Ok(outcome) => outcome,
            // The lease was released while the panic unwound through `daemon::run`.
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Waits for the port of a modem that comes late (logged once), touching nothing;
/// `Err` holds the exit status that ends the run (no port in time, or a shutdown).
pub fn await_port(
    options: &BotOptions,
    shutdown: &Shutdown,
    notifier: &dyn Notifier,
) -> Result<(), i32> {
    use crate::handoff::port_wait::{PortWait, wait_for_port};
    let port = &options.lease.port;
    if port.exists() {
        return Ok(());
    }
    let limit = options.settings.wait_for_port();
    log::warn!(
        "{} does not exist (yet): waiting {} for the modem to appear, smstools left as it is          (is the modem powered? `lsusb` lists a SIM7600 as 1e0e:9001; the udev rule makes          /dev/sim7600-at)",
        port.display(),
        limit.map_or(
            "as long as it takes ([bot] wait_for_port_s = 0)".to_owned(),
            |l| { format!("up to {} s ([bot] wait_for_port_s)", l.as_secs()) }
        )
    );
    notifier.status(&format!("waiting for {} to appear", port.display()));
    let mut extended: Option<std::time::Instant> = None;
    let outcome = wait_for_port(port, limit, shutdown, &mut || {
        if extended.is_none_or(|t| t.elapsed() >= EXTEND_START_EVERY) {
            notifier.extend_start(EXTEND_START_BY);
            extended = Some(std::time::Instant::now());
        }
    });
    match outcome {
        PortWait::Present => Ok(()),
        PortWait::Appeared(after) => {
            log::info!(
                "{} appeared after {} ms: taking it",
                port.display(),
                after.as_millis()
            );
            Ok(())
        }
        PortWait::TimedOut(after) => {
            log::error!(
                "no modem: {} did not appear within {} s; smstools was not touched",
                port.display(),
                after.as_secs()
            );
            Err(exit_code::NO_PORT)
        }
        PortWait::Stopped => {
            log::info!(
                "stopped while waiting for {}: smstools was not touched",
                port.display()
            );
            Err(exit_code::STOPPED)
        }
    }
}

/// The `sim7600 status` view for `GET /status`, gathered from `config` and kept as
/// [`crate::api::system_view`] says: gathered again when it ages, and at once when the
/// bot's phase or reconnect count in `state` changed.
pub fn system_status(
    config: &Config,
    port: Option<PathBuf>,
    state: &BotState,
) -> crate::api::SystemStatus {
    let config = config.clone();
    let state = state.clone();
    crate::api::system_view::cached(
        move || {
            let facts = status::gather(&config, port.as_deref(), status::systemd_booted());
            let state = status::seed_state(&facts);
            serde_json::json!({ "facts": facts, "state": state })
        },
        move || {
            let bot = state.snapshot();
            (bot.phase, bot.reconnects)
        },
    )
}

/// The `[api]` settings with `--listen` applied.
pub fn api_settings(config: &Config, listen: Option<&str>) -> Result<ApiSettings, SetupError> {
    let mut settings = config.api.clone();
    if let Some(text) = listen {
        settings.listen = text.parse().map_err(|e| SetupError::Listen {
            value: text.to_owned(),
            problem: format!("{e}"),
        })?;
    }
    Ok(settings)
}

/// A SIGHUP: config.toml and voice_config.json read again and checked; the bot's loop gets
/// what it applies live, the webhooks are replaced if `[events]` changed, and the keys
/// that need a restart are named. A file that does not pass leaves everything as it was.
fn reload(
    args: &VoiceBotArgs,
    started: &Config,
    events: &mut crate::events::EventsSettings,
    webhooks: &mut crate::events::Webhooks,
    state: &BotState,
) {
    let file = args
        .config_file
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from(crate::app::config::DEFAULT_CONFIG_PATH));
    let plan = match super::reload::plan(args.config_file.as_deref(), started, events, args) {
        Ok(plan) => plan,
        Err(e) => {
            log::error!("reload refused, the running settings stay: {e}");
            return;
        }
    };
    log::info!(
        "reload: {} read; answering on ring {} ({:?})",
        file.display(),
        plan.live.voice.answer_after_rings(),
        plan.live.voice.answer_mode()
    );
    if plan.events_changed {
        match crate::events::Webhooks::start_counted(
            state.events(),
            &plan.config.events,
            Some(state.metrics().clone()),
        ) {
            Ok(new) => {
                std::mem::replace(webhooks, new).retire();
                *events = plan.config.events.clone();
                log::info!("reload: webhooks replaced");
            }
            Err(e) => log::error!("reload: the new webhooks cannot start ({e}); the old ones stay"),
        }
    }
    if !plan.needs_restart.is_empty() {
        log::warn!(
            "reload: changed, but read at start only (restart the bot to apply): {}",
            plan.needs_restart.join(", ")
        );
    }
    state.request_reload(plan.live);
}

/// Why the voice bot did not start: logged where it is known, and the exit status it means.
type Refused = i32;

/// Logs why and refuses the start with `code`.
fn refuse(code: i32, why: impl std::fmt::Display) -> Refused {
    log::error!("{why}");
    code
}

/// The bot's options, the API's settings and the SMS queue, from the configuration.
fn prepare(
    config: &Config,
    args: &VoiceBotArgs,
) -> Result<(BotOptions, ApiSettings, SmsQueue), Refused> {
    let setup = options(config, args).and_then(|o| {
        let api = api_settings(config, args.listen.as_deref())?;
        let queue = SmsQueue::open(&config.sms.queue_dir)?;
        Ok((o, api, queue))
    });
    setup.map_err(|e| match e {
        // A modem not (yet) present is no config error: a restart may find it.
        SetupError::Modem(_) => refuse(exit_code::FAILURE, e),
        _ => refuse(exit_code::CONFIG, e),
    })
}

/// The Twilio REST subset's state, when `[twilio]` names an account.
fn start_twilio(
    config: &Config,
    state: &BotState,
) -> Result<Option<crate::agent::rest::TwilioRest>, Refused> {
    let Some((sid, token)) = config
        .twilio
        .account()
        .map_err(|e| refuse(exit_code::CONFIG, e))?
    else {
        return Ok(None);
    };
    crate::agent::rest::TwilioRest::start(state, sid, token)
        .map(Some)
        .map_err(|e| {
            refuse(
                exit_code::FAILURE,
                format!("cannot follow calls for the Twilio paths: {e}"),
            )
        })
}

/// The HTTP API. A port already in use, or a public address without a token, is refused
/// here, before smstools is touched.
fn start_api(
    config: &Config,
    args: &VoiceBotArgs,
    setup: (&BotOptions, &ApiSettings, &SmsQueue),
    state: &BotState,
    twilio: Option<crate::agent::rest::TwilioRest>,
) -> Result<ApiServer, Refused> {
    let (options, settings, queue) = setup;
    let context = ApiContext {
        twilio,
        queue: queue.clone(),
        policy: config.sms.policy(),
        bot: state.clone(),
        system_status: system_status(config, args.port.clone(), state),
        token: None,
        speech: options
            .audio
            .as_ref()
            .map(|plan| crate::api::speech::Speaker::new(plan.config.tts.clone())),
        hosts: crate::api::HostPolicy::default(),
    };
    ApiServer::start(settings, context).map_err(|e| {
        let code = match e {
            ApiError::Settings(_) => exit_code::CONFIG,
            _ => exit_code::FAILURE,
        };
        refuse(code, e)
    })
}

/// The agent streams; the stream's accountSid is the `[twilio]` account's when there is one.
fn start_agents(
    config: &Config,
    state: &BotState,
    twilio: Option<&crate::agent::rest::TwilioRest>,
) -> Result<Option<crate::agent::Agents>, Refused> {
    config
        .agent
        .check()
        .map_err(|e| refuse(exit_code::CONFIG, e))?;
    let mut settings = config.agent.clone();
    if settings.account_sid.is_none() {
        settings.account_sid = twilio.map(|t| t.account_sid.clone());
    }
    let tts = config.audio.enabled.then(|| config.audio.tts.clone());
    crate::agent::Agents::start(state, &settings, tts).map_err(|e| {
        refuse(
            exit_code::FAILURE,
            format!("cannot start the agent streams: {e}"),
        )
    })
}

/// What runs beside the bot's loop, stopped in one order whatever ends the bot.
struct Beside {
    api: ApiServer,
    agents: Option<crate::agent::Agents>,
    webhooks: crate::events::Webhooks,
    mqtt: Option<crate::mqtt::Mqtt>,
}

impl Beside {
    /// Closes the bus first: `GET /events` streams end, webhooks get a grace to deliver the
    /// last events (the call that ended as the bot stopped); then MQTT, the agent streams,
    /// and the API last.
    fn shutdown(self) {
        self.webhooks.shutdown();
        if let Some(mqtt) = self.mqtt {
            mqtt.shutdown();
        }
        if let Some(agents) = self.agents {
            agents.shutdown();
        }
        self.api.shutdown();
    }
}

/// The port is given back: says so, and the exit status.
fn stopped(outcome: Result<crate::bot::Stopped, crate::bot::BotError>) -> i32 {
    let stopped = match outcome {
        Ok(stopped) => stopped,
        Err(e) => {
            log::error!("{e}");
            return e.exit_code();
        }
    };
    match stopped.released {
        Some(r) if r.smstools_restarted => log::info!(
            "port given back; smstools runs again{}",
            r.pause
                .map(|p| format!(" after a pause of {} ms", p.as_millis()))
                .unwrap_or_default()
        ),
        Some(_) => log::info!("port given back (smstools was not running before)"),
        None => log::error!("the port could not be given back: run `sim7600 restore`"),
    }
    exit_code::STOPPED
}

/// `sim7600 voice-bot`: returns the exit status.
pub fn run(config: &Config, args: &VoiceBotArgs, signals: &Signals) -> i32 {
    match run_refusable(config, args, signals) {
        Ok(code) | Err(code) => code,
    }
}

fn run_refusable(config: &Config, args: &VoiceBotArgs, signals: &Signals) -> Result<i32, Refused> {
    // SIGHUP re-reads the configuration from now on; it no longer ends the bot.
    signals.reload_on_hangup();
    let (options, api_settings, queue) = prepare(config, args)?;
    let (state, mut requests) = BotState::with_shutdown(
        options.lease.port.clone(),
        CallLog::new(options.settings.call_log_settings()),
        signals.shutdown().clone(),
    );
    let wake = state.clone();
    queue.set_on_enqueue(move || {
        wake.sms_queued();
    });
    let twilio = start_twilio(config, &state)?;
    // The API, the agent streams and the webhooks start (and subscribe to the bus) before
    // the bot runs, so that they see its first event.
    let api = start_api(
        config,
        args,
        (&options, &api_settings, &queue),
        &state,
        twilio.clone(),
    )?;
    let agents = start_agents(config, &state, twilio.as_ref())?;
    let webhooks = crate::events::Webhooks::start_counted(
        state.events(),
        &config.events,
        Some(state.metrics().clone()),
    )
    .map_err(|e| refuse(exit_code::FAILURE, e))?;
    let mut beside = Beside {
        api,
        agents,
        webhooks,
        mqtt: None,
    };
    if let Err(code) = await_port(&options, signals.shutdown(), &crate::bot::notify::Systemd) {
        beside.shutdown();
        return Ok(code);
    }
    // MQTT subscribes before the bot runs too; it connects once the modem told its IMEI.
    let mqtt = crate::mqtt::Mqtt::start(
        &config.mqtt,
        crate::mqtt::MqttContext {
            bot: state.clone(),
            queue: queue.clone(),
            policy: config.sms.policy(),
            configured_imei: config.imei.clone(),
        },
    );
    beside.mqtt = match mqtt {
        Ok(m) => m,
        Err(e) => {
            log::error!("{e}");
            beside.shutdown();
            return Ok(exit_code::CONFIG);
        }
    };
    let mut events = config.events.clone();
    let outcome = run_until_signal(
        &options,
        &state,
        &mut requests,
        Some(&queue),
        &crate::bot::notify::Systemd,
        signals,
        &mut || reload(args, config, &mut events, &mut beside.webhooks, &state),
    );
    beside.shutdown();
    Ok(stopped(outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_voice_config_means_three_rings() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            answer_after_rings(&dir.path().join("absent.json")).unwrap(),
            3
        );
    }

    #[test]
    fn rings_come_from_the_config_or_a_named_voice_config_and_never_from_a_home_folder() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("voice_config.json");
        std::fs::write(&file, r#"{"answer_after_rings": 5}"#).unwrap();
        let parse = |text: &str| Config::parse(text, Path::new("c.toml")).unwrap();
        let none = parse("");
        assert_eq!(none.voice_config, None, "no voice_config.json unless named");
        assert_eq!(rings(&none, None).unwrap(), 3);
        assert_eq!(
            rings(&parse("[bot]\nanswer_after_rings = 2\n"), None).unwrap(),
            2
        );
        let named = parse(&format!(
            "voice_config = {:?}\n",
            file.display().to_string()
        ));
        assert_eq!(rings(&named, None).unwrap(), 5);
        assert_eq!(rings(&none, Some(&file)).unwrap(), 5, "--voice-config");
        let both_same = parse(&format!(
            "voice_config = {:?}\n[bot]\nanswer_after_rings = 5\n",
            file.display().to_string()
        ));
        assert_eq!(rings(&both_same, None).unwrap(), 5);
        let both_differ = parse(&format!(
            "voice_config = {:?}\n[bot]\nanswer_after_rings = 2\n",
            file.display().to_string()
        ));
        let err = rings(&both_differ, None).unwrap_err().to_string();
        assert!(
            err.contains("answer_after_rings = 2") && err.contains("says 5"),
            "{err}"
        );
    }

    #[test]
    fn an_existing_voice_config_is_read_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("voice_config.json");
        std::fs::write(&file, r#"{"answer_after_rings": 5, "greeting": "hi"}"#).unwrap();
        assert_eq!(answer_after_rings(&file).unwrap(), 5);
    }

    #[test]
    fn an_unusable_voice_config_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("voice_config.json");
        std::fs::write(&file, r#"{"answer_after_rings": 300}"#).unwrap();
        let err = answer_after_rings(&file).unwrap_err().to_string();
        assert!(
            err.contains("voice_config.json") && err.contains("answer_after_rings"),
            "{err}"
        );
    }

    #[test]
    fn flags_override_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let voice = dir.path().join("v.json");
        std::fs::write(&voice, r#"{"answer_after_rings": 2}"#).unwrap();
        let config = Config::default();
        let args = VoiceBotArgs {
            port: Some("/dev/sim7600-at".into()),
            voice_config: Some(voice),
            listen: Some("127.0.0.1:9000".into()),
            smstools_conf: Some("/srv/smsd.conf".into()),
            config_file: None,
        };
        let o = options(&config, &args).unwrap();
        assert_eq!(o.lease.port, PathBuf::from("/dev/sim7600-at"));
        assert_eq!(o.smstools_conf, Some(PathBuf::from("/srv/smsd.conf")));
        let defaults = options(&config, &VoiceBotArgs::default()).unwrap();
        assert_eq!(
            defaults.smstools_conf,
            Some(PathBuf::from("/etc/smsd.conf"))
        );
        let mut off = config.clone();
        off.bot.spool = false;
        assert_eq!(options(&off, &args).unwrap().smstools_conf, None);
        assert_eq!(o.voice.answer_after_rings(), 2);
        let api = api_settings(&config, args.listen.as_deref()).unwrap();
        assert_eq!(api.listen.port(), 9000);
    }

    #[test]
    fn a_listen_flag_that_is_no_address_is_refused_by_name() {
        let err = api_settings(&Config::default(), Some("localhost"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--listen") && err.contains("localhost"),
            "{err}"
        );
    }
}
