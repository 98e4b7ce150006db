//! The demo's script: the voice bot and smstools sharing the built-in simulator, no modem
//! needed.
//!
//! This module owns the demo's script and nothing the bot does not already do: it starts
//! a simulated SIM7600 (tools/modem-sim) on a pseudo-terminal in a temporary folder, a
//! real smsd on it when smstools is installed (hil-tests' hermetic launcher; otherwise it
//! says plainly that the smstools side is simulated), runs the real voice bot
//! ([`host_linux::bot::run`]) and the real HTTP API beside it in this process, lets a scripted
//! caller ring until the modem answers on ring `answer_after_rings` and hang up, sends an
//! SMS through the API, stops the bot, and checks that smstools has the port again. Each
//! phase is printed with the time since the start, who owns the port and smstools' state.
//! Everything it started is stopped and its folder removed when it ends, also on failure.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use modem_sim::{SimConfig, SimHandle, Simulator};

use host_linux::api::{ApiContext, ApiServer, ApiSettings};
use host_linux::bot::notify::Notifier;
use host_linux::bot::{self, BotOptions, BotSettings};
use host_linux::bot::{BotPhase, BotState, CurrentCallState};
use host_linux::calls::CallLog;
use host_linux::handoff::{BackendSpec, HandoffTimeouts, LeaseSettings};
use host_linux::platform::holders;
use host_linux::platform::signals::Signals;
use host_linux::spool::queue::{SmsQueue, SmsSettings};

/// The scripted caller's number.
pub const CALLER: &str = "+491761234567";
/// Where the demo's SMS goes.
pub const RECIPIENT: &str = "+491721234567";
/// The demo's SMS.
pub const SMS_TEXT: &str = "Hello from sim7600 demo: Grüße, привет 👋";
/// Who texts the bot while it holds the port.
pub const TEXTER: &str = "+31641600986";
/// What they text.
pub const INCOMING_TEXT: &str = "Door opened at the garden shed";
/// The simulated network rings every this often (a real one: about 3 s).
pub const RING_INTERVAL: Duration = Duration::from_millis(700);
/// How long the caller stays on the line after the answer.
pub const TALK_TIME: Duration = Duration::from_millis(1500);
/// Bound of every wait of the demo.
pub const PHASE_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between two looks at a condition the demo waits for.
pub const LOOK_EVERY: Duration = Duration::from_millis(20);

/// What the demo takes.
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    /// The modem's `answer_after_rings`.
    pub answer_after_rings: u8,
    /// Force the simulated smstools even when smsd is installed.
    pub simulated_smstools: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            answer_after_rings: modem_core::config::DEFAULT_ANSWER_AFTER_RINGS,
            simulated_smstools: false,
        }
    }
}

/// Why the demo stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A step failed.
    #[error("{step}: {problem}")]
    Step {
        /// The phase.
        step: &'static str,
        /// What went wrong.
        problem: String,
    },
    /// A shutdown signal came.
    #[error("interrupted by a signal during {0}")]
    Interrupted(&'static str),
    /// The output could not be written.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

fn step(step: &'static str) -> impl Fn(String) -> DemoError {
    move |problem| DemoError::Step { step, problem }
}

/// The smsd binary if smstools is installed: the first `smsd` on PATH, else
/// /usr/sbin/smsd.
pub fn installed_smsd() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("smsd"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let p = PathBuf::from("/usr/sbin/smsd");
        p.is_file().then_some(p)
    })
}

/// The smstools side: a real hermetic smsd, or a stand-in whose "service" is a flag file.
#[derive(Debug)]
enum Smstools {
    Real(hil_tests::Smsd),
    Simulated { flag: PathBuf },
}

impl Smstools {
    fn backend(&self) -> BackendSpec {
        let s = |p: &Path| p.display().to_string();
        match self {
            Smstools::Real(smsd) => {
                let scripts = smsd.scripts();
                BackendSpec::Commands {
                    stop: vec![s(&scripts.stop)],
                    start: vec![s(&scripts.start)],
                    status: vec![s(&scripts.status)],
                }
            }
            Smstools::Simulated { flag } => BackendSpec::Commands {
                stop: vec!["rm".into(), "-f".into(), s(flag)],
                start: vec!["touch".into(), s(flag)],
                status: vec!["test".into(), "-e".into(), s(flag)],
            },
        }
    }

    /// The smsd.conf whose spool the bot serves while it holds the port (the stand-in
    /// has no spool).
    fn conf(&self) -> Option<PathBuf> {
        match self {
            Smstools::Real(smsd) => Some(smsd.conf()),
            Smstools::Simulated { .. } => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            Smstools::Real(smsd) => match smsd.pid() {
                Some(pid) => format!("smsd running (pid {pid})"),
                None => "smsd stopped".into(),
            },
            Smstools::Simulated { flag } => {
                if flag.exists() {
                    "simulated smstools running".into()
                } else {
                    "simulated smstools stopped".into()
                }
            }
        }
    }
}

/// The demo's clock and printer.
struct Script<'o, W: Write> {
    out: &'o mut W,
    started: Instant,
    port: PathBuf,
    shutdown: &'o Signals,
}

impl<W: Write> Script<'_, W> {
    fn say(&mut self, what: &str) -> Result<(), DemoError> {
        let ms = self.started.elapsed().as_millis();
        writeln!(self.out, "[{ms:>6} ms] {what}")?;
        self.out.flush()?;
        Ok(())
    }

    fn owner(&self) -> String {
        match holders::holders_of(&self.port) {
            Ok(hs) if hs.is_empty() => "nobody".into(),
            Ok(hs) => hs
                .iter()
                .map(|h| {
                    if u32::try_from(h.pid).ok() == Some(std::process::id()) {
                        format!("the voice bot (pid {})", h.pid)
                    } else {
                        format!("{} (pid {})", h.command, h.pid)
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
            Err(e) => format!("unknown ({e})"),
        }
    }

    /// Waits (bounded, interruptible) until `look` gives `Some`.
    fn wait<T>(
        &self,
        phase: &'static str,
        look: impl FnMut() -> Option<T>,
    ) -> Result<T, DemoError> {
        wait(self.shutdown, phase, look)
    }
}

/// Waits (bounded by [`PHASE_TIMEOUT`], ended early by a shutdown signal) until `look`
/// gives `Some`, looking every [`LOOK_EVERY`].
fn wait<T>(
    shutdown: &Signals,
    phase: &'static str,
    mut look: impl FnMut() -> Option<T>,
) -> Result<T, DemoError> {
    let end = Instant::now() + PHASE_TIMEOUT;
    loop {
        if let Some(v) = look() {
            return Ok(v);
        }
        if shutdown.requested().is_some() {
            return Err(DemoError::Interrupted(phase));
        }
        if Instant::now() >= end {
            return Err(DemoError::Step {
                step: phase,
                problem: format!("not done within {} s", PHASE_TIMEOUT.as_secs()),
            });
        }
        std::thread::sleep(LOOK_EVERY);
    }
}

/// The demo's bot needs no systemd.
#[derive(Debug)]
struct Silent;

impl Notifier for Silent {
    fn ready(&self, _: &str) {}
    fn status(&self, _: &str) {}
    fn alive(&self) {}
    fn stopping(&self) {}
}

/// One request to the API (the rig's one HTTP client); the status code and the JSON body.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> Result<(u16, serde_json::Value), String> {
    let request =
        hil_tests::http::Request::new(method, addr, path).read_timeout(Some(PHASE_TIMEOUT));
    let request = if body.is_empty() {
        request
    } else {
        request
            .header("Content-Type", "application/json")
            .body(body.as_bytes())
    };
    let answer = request.send().map_err(|e| e.to_string())?;
    let json = serde_json::from_str(answer.body.trim())
        .map_err(|e| format!("{e} in {:?}", answer.body))?;
    Ok((answer.status, json))
}

/// Runs the demo, printing to `out`.
pub fn run(
    options: DemoOptions,
    out: &mut impl Write,
    shutdown: &Signals,
) -> Result<(), DemoError> {
    // The phases on stdout tell the story; the bot's info lines would repeat it on stderr.
    // Asked-for detail (-v, RUST_LOG=debug) stays.
    if log::max_level() == log::LevelFilter::Info {
        log::set_max_level(log::LevelFilter::Warn);
    }
    let dir = tempfile::Builder::new()
        .prefix("sim7600-demo.")
        .tempdir()
        .map_err(|e| step("preparing")(format!("cannot create a temporary folder: {e}")))?;
    let port = dir.path().join("dev/ttyUSB2");
    let mut script = Script {
        out,
        started: Instant::now(),
        port: port.clone(),
        shutdown,
    };
    script.say("sim7600-demo: a voice bot and smstools sharing one simulated SIM7600")?;

    let sim = Simulator::start(SimConfig {
        ring_interval: RING_INTERVAL,
        link: Some(port.clone()),
        record: Some(dir.path().join("transcript.log")),
        ..SimConfig::default()
    })
    .map_err(|e| step("starting the simulator")(e.to_string()))?;
    let identity = sim
        .state()
        .map_err(|e| step("starting the simulator")(e.to_string()))?
        .modem
        .identity;
    script.say(&format!(
        "simulator: {} {} on {}",
        identity.manufacturer,
        identity.model,
        port.display()
    ))?;

    let smstools = start_smstools(&mut script, &options, dir.path(), &port)?;
    let outcome = with_bot(&mut script, &options, dir.path(), &port, &sim, &smstools);
    if let Err(e) = &outcome {
        script.say(&format!("demo failed: {e}"))?;
    }
    outcome?;
    script.say(&format!(
        "demo done in {} ms: the port went to the voice bot and back to smstools",
        script.started.elapsed().as_millis()
    ))?;
    drop(smstools);
    drop(sim);
    Ok(())
}

fn start_smstools<W: Write>(
    script: &mut Script<'_, W>,
    options: &DemoOptions,
    dir: &Path,
    port: &Path,
) -> Result<Smstools, DemoError> {
    let smsd = if options.simulated_smstools {
        None
    } else {
        installed_smsd()
    };
    let Some(binary) = smsd else {
        let flag = dir.join("smstools.running");
        std::fs::write(&flag, "").map_err(|e| step("simulating smstools")(e.to_string()))?;
        let why = if options.simulated_smstools {
            "--simulated-smstools given"
        } else {
            "smsd is NOT installed (apt-get install smstools)"
        };
        script.say(&format!(
            "smstools: {why}: the smstools side is SIMULATED (a stand-in service that holds \
             no port)"
        ))?;
        return Ok(Smstools::Simulated { flag });
    };
    let smsd = hil_tests::Smsd::prepare(&dir.join("smsd"), port)
        .map_err(|e| step("preparing smsd")(e.to_string()))?;
    // Started as an init system would, through its start script; run from here with a
    // clean signal mask, so that the SIGTERM of a stop reaches it.
    let start = vec![smsd.scripts().start.display().to_string()];
    host_linux::handoff::run::run_ok(&start, HandoffTimeouts::default().command)
        .map_err(|e| step("starting smsd")(e.to_string()))?;
    let smsd = Smstools::Real(smsd);
    script.wait("smsd opening the port", || {
        holders::holders_of(port).ok().filter(|h| !h.is_empty())
    })?;
    script.say(&format!(
        "smstools: real {} started; {}; port owner: {}",
        binary.display(),
        smsd.describe(),
        script.owner()
    ))?;
    Ok(smsd)
}

fn with_bot<W: Write>(
    script: &mut Script<'_, W>,
    options: &DemoOptions,
    dir: &Path,
    port: &Path,
    sim: &SimHandle,
    smstools: &Smstools,
) -> Result<(), DemoError> {
    let settings = BotSettings {
        call_log: dir.join("state/calls.jsonl"),
        ..BotSettings::default()
    };
    let voice = settings
        .voice_config(options.answer_after_rings)
        .map_err(|e| step("configuring the bot")(e.to_string()))?;
    let bot_options = BotOptions {
        lease: LeaseSettings {
            port: port.to_path_buf(),
            backend: smstools.backend(),
            marker_dir: dir.join("run"),
            timeouts: HandoffTimeouts::default(),
        },
        voice,
        settings: settings.clone(),
        smstools_conf: smstools.conf(),
        dtmf: host_linux::audio::PreparedMenu::default(),
        audio: None,
        modem: host_linux::fleet::ModemPlan::for_port(port),
    };
    let queue = SmsQueue::open(&dir.join("state/sms-queue"))
        .map_err(|e| step("opening the SMS queue")(e.to_string()))?;
    let (state, mut requests) = BotState::new(
        port.to_path_buf(),
        CallLog::new(settings.call_log_settings()),
    );
    let wake = state.clone();
    queue.set_on_enqueue(move || {
        wake.sms_queued();
    });
    let api_settings = ApiSettings {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..ApiSettings::default()
    };
    let status_state = state.clone();
    let api = ApiServer::start(
        &api_settings,
        ApiContext {
            twilio: None,
            queue: queue.clone(),
            policy: SmsSettings::default().policy(),
            bot: state.clone(),
            system_status: std::sync::Arc::new(
                move || serde_json::json!({ "demo": true, "phase": status_state.snapshot().phase }),
            ),
            token: None,
            speech: None,
            hosts: host_linux::api::HostPolicy::default(),
        },
    )
    .map_err(|e| step("starting the HTTP API")(e.to_string()))?;
    let api_addr = api.local_addr();
    script.say(&format!(
        "voice bot: starting (answer_after_rings = {}, HTTP API on http://{api_addr})",
        options.answer_after_rings
    ))?;
    let result = std::thread::scope(|s| {
        let bot = s.spawn(|| bot::run(&bot_options, &state, &mut requests, Some(&queue), &Silent));
        let bot_ended = || bot.is_finished();
        let script_result = phases(script, &state, &bot_ended, sim, smstools, api_addr, options);
        // Also after a failed phase: the bot must give the port back before the demo ends.
        state.request_shutdown();
        let bot_result = bot.join();
        (script_result, bot_result)
    });
    api.shutdown();
    let (script_result, bot_result) = result;
    // A bot that failed is the cause of whatever the script then saw: its error first.
    let bot_error = match bot_result {
        Ok(Ok(stopped)) => Ok(stopped),
        Ok(Err(e)) => Err(step("the voice bot")(e.to_string())),
        Err(_) => Err(step("the voice bot")("its thread panicked".into())),
    };
    let stopped = match (bot_error, script_result) {
        (Err(bot), Err(seen)) => {
            log::error!("demo: {seen}");
            return Err(bot);
        }
        (Err(bot), Ok(())) => return Err(bot),
        (Ok(_), Err(seen)) => return Err(seen),
        (Ok(stopped), Ok(())) => stopped,
    };
    let pause = stopped
        .released
        .and_then(|r| r.pause)
        .map(|p| format!("; smstools was stopped for {} ms", p.as_millis()))
        .unwrap_or_default();
    if let Smstools::Real(_) = smstools {
        script.wait("smsd reopening the port", || {
            holders::holders_of(port).ok().filter(|h| !h.is_empty())
        })?;
    }
    script.say(&format!(
        "voice bot: stopped, port given back{pause}; {}; port owner: {}",
        smstools.describe(),
        script.owner()
    ))?;
    Ok(())
}

/// No SMS gap: an SMS that arrives while the bot holds the port lands in smsd's own
/// incoming folder (with the stand-in smstools there is no spool, and the demo says so).
fn incoming_sms<W: Write>(
    script: &mut Script<'_, W>,
    state: &BotState,
    sim: &SimHandle,
    smstools: &Smstools,
) -> Result<(), DemoError> {
    let Smstools::Real(smsd) = smstools else {
        return script.say(
            "SMS in: smstools is simulated, so there is no smsd spool to deliver into (with \
             smstools installed an SMS arriving now lands in smsd's incoming folder)",
        );
    };
    sim.sms(TEXTER, INCOMING_TEXT)
        .map_err(|e| step("texting the bot")(e.to_string()))?;
    script.say(&format!(
        "SMS in: {TEXTER} texts {INCOMING_TEXT:?} while the bot holds the port (smsd is stopped)"
    ))?;
    let incoming = smsd.incoming();
    let file = script.wait("the SMS in smsd's incoming folder", || {
        std::fs::read_dir(&incoming)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("GSM1."))
            })
    })?;
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    let delivered = text.ends_with(INCOMING_TEXT);
    if !delivered {
        return Err(step("checking the incoming file")(format!(
            "{} does not end with the text: {text:?}",
            file.display()
        )));
    }
    // Counted once its SIM slot is deleted, which follows the file.
    let received = script.wait("the SMS deleted from the SIM", || {
        Some(state.snapshot().sms_received).filter(|n| *n > 0)
    })?;
    script.say(&format!(
        "SMS in: the bot wrote it to {} in smsd's format and deleted it from the SIM (no SMS \
         gap; {received} received while the bot runs)",
        file.display()
    ))
}

fn phases<W: Write>(
    script: &mut Script<'_, W>,
    state: &BotState,
    bot_ended: &dyn Fn() -> bool,
    sim: &SimHandle,
    smstools: &Smstools,
    api: SocketAddr,
    options: &DemoOptions,
) -> Result<(), DemoError> {
    // A bot that ended before it ran (it could not take the port) ends the wait at once:
    // its own error is what the demo reports.
    let snap = script.wait("the bot taking the port", || {
        let snap = state.snapshot();
        if snap.phase == BotPhase::Running {
            Some(Some(snap))
        } else {
            bot_ended().then_some(None)
        }
    })?;
    let Some(snap) = snap else {
        return Err(step("the bot taking the port")(
            "the voice bot ended without taking it".into(),
        ));
    };
    let model = snap
        .identity
        .as_ref()
        .map(|i| format!("{} (IMEI {})", i.model, i.imei.as_deref().unwrap_or("?")))
        .unwrap_or_default();
    script.say(&format!(
        "voice bot: port owner: {}; {}; modem {model} initialised{}",
        script.owner(),
        smstools.describe(),
        if snap.init_warnings.is_empty() {
            String::new()
        } else {
            format!(" (warnings: {})", snap.init_warnings.join("; "))
        }
    ))?;

    // The scripted caller.
    sim.call(CALLER, false, Some(RING_INTERVAL))
        .map_err(|e| step("calling")(e.to_string()))?;
    script.say(&format!(
        "call: {CALLER} calls; the network rings every {} ms",
        RING_INTERVAL.as_millis()
    ))?;
    let mut last_ring = 0;
    let shutdown = script.shutdown;
    let answered = wait(shutdown, "the modem answering", || {
        let call = state.snapshot().current_call?;
        if call.state == CurrentCallState::Ringing && call.rings > last_ring {
            last_ring = call.rings;
            let ring = format!(
                "call: ring {} from {}",
                call.rings,
                call.caller.as_deref().unwrap_or("(no caller ID yet)")
            );
            // A failed print is not worth stopping the call for; the next say() reports it.
            let _ = script.say(&ring);
        }
        (call.state == CurrentCallState::Active).then_some(call)
    })?;
    script.say(&format!(
        "call: answered by the modem on ring {} (answer_after_rings = {})",
        answered.rings, options.answer_after_rings
    ))?;
    std::thread::sleep(TALK_TIME);
    sim.hangup()
        .map_err(|e| step("hanging up")(e.to_string()))?;
    let record = script.wait("the call being logged", || {
        state.recent_calls(1).ok()?.into_iter().next()
    })?;
    script.say(&format!(
        "call: the caller hung up after {} s; call log: {}",
        record.duration_s,
        serde_json::to_string(&record).unwrap_or_default()
    ))?;

    incoming_sms(script, state, sim, smstools)?;

    // An SMS through the API.
    let body = serde_json::json!({ "to": RECIPIENT, "text": SMS_TEXT }).to_string();
    let (code, answer) = http(api, "POST", "/sms", &body).map_err(step("POST /sms"))?;
    if code != 202 {
        return Err(step("POST /sms")(format!("answered {code}: {answer}")));
    }
    let id = answer["id"].as_str().unwrap_or_default().to_owned();
    script.say(&format!("SMS: POST /sms -> {code} {answer}"))?;
    let sent = script.wait("the SMS being sent", || {
        let (_, record) = http(api, "GET", &format!("/sms/{id}"), "").ok()?;
        match record["state"].as_str() {
            Some("sent" | "failed") => Some(record),
            _ => None,
        }
    })?;
    if sent["state"] != "sent" {
        return Err(step("sending the SMS")(format!("{sent}")));
    }
    let on_air = sim
        .state()
        .map_err(|e| step("reading the simulator")(e.to_string()))?
        .modem
        .sent;
    let arrived = on_air
        .iter()
        .any(|m| m.number == RECIPIENT && m.text == SMS_TEXT);
    if !arrived {
        return Err(step("checking the SMS")(format!(
            "the simulator did not receive it: {on_air:?}"
        )));
    }
    script.say(&format!(
        "SMS: sent in PDU mode ({}, message references {}); the simulator decoded {:?} for \
         {RECIPIENT}",
        sent["encoding"].as_str().unwrap_or("?"),
        sent["message_references"],
        SMS_TEXT
    ))?;

    script.say("voice bot: asked to stop (what SIGTERM does): giving the port back")?;
    Ok(())
}
