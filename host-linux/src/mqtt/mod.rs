//! MQTT: the bot on a broker, for fleets and for Home Assistant.
//!
//! This module owns the connection (rumqttc's blocking client: its event loop runs on a
//! thread of its own) and the two threads around it: the *publisher* reads the bot's
//! event bus like a webhook does (a bounded [`Subscription`] that drops its oldest event
//! when the broker does not keep up, counted) and publishes events and the retained
//! `state`; the *connection* thread drives the client and answers the commands
//! (`sms/send`, `call/hangup`, `call/dial`) and Home Assistant's `online` announcements. Neither ever
//! holds up the bot's loop: publishing is `try_publish` into a bounded request queue, a
//! full one is a counted drop.
//!
//! The topics are those of [`topics`]; the discovery messages those of [`discovery`]. The
//! connection is made once the modem told its IMEI (the topics and the last will name it).

pub mod discovery;
pub mod settings;
pub mod topics;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rumqttc::{
    Client, Connection, Event as MqttEvent, LastWill, MqttOptions, Packet, QoS, Transport,
};
use serde_json::{Value, json};

use crate::bot::BotState;
use crate::events::{Overflow, Recv, Subscription};
use crate::platform::shutdown::Shutdown;
use crate::spool::queue::{QueueError, SmsPolicy, SmsQueue, ValidatedSms};

pub use settings::{MqttSettings, MqttSettingsError};
use topics::{EventGroup, StatePayload, Topics};

/// How often the retained state is compared with the bot's and republished if changed.
pub const STATE_REFRESH: Duration = Duration::from_secs(2);
/// The pause before trying the broker again after a connection error.
pub const RECONNECT_PAUSE: Duration = Duration::from_secs(1);
/// How long a stop waits for the last messages (`offline`) to leave.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Requests the client queues beyond the event queue (state, replies, discovery).
pub const EXTRA_REQUESTS: usize = 64;
/// The largest MQTT packet sent or read.
pub const MAX_PACKET: usize = 64 * 1024;

/// Why MQTT could not start.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    /// A `[mqtt]` value is unusable.
    #[error("[mqtt] {0}")]
    Settings(#[from] MqttSettingsError),
    /// The CA file could not be read.
    #[error("[mqtt] ca_file {}: {problem}", file.display())]
    CaFile {
        /// The file.
        file: std::path::PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// TLS could not be set up.
    #[error("[mqtt] TLS: {0}")]
    Tls(String),
    /// The thread could not start.
    #[error("[mqtt] cannot start its thread: {0}")]
    Thread(std::io::Error),
}

/// What MQTT works with.
#[derive(Debug, Clone)]
pub struct MqttContext {
    /// The bot (its snapshot, its events, hang-up requests).
    pub bot: BotState,
    /// The SMS queue `sms/send` puts messages in, as `POST /sms` does.
    pub queue: SmsQueue,
    /// The queue's policy (parts, delivery).
    pub policy: SmsPolicy,
    /// The IMEI the config names (used until the modem tells its own).
    pub configured_imei: Option<String>,
}

/// The running MQTT side; [`Mqtt::shutdown`] ends it.
#[derive(Debug)]
pub struct Mqtt {
    stop: Shutdown,
    publisher: Option<JoinHandle<()>>,
}

fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, MqttError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(file) => {
            let ca_error = |problem: String| MqttError::CaFile {
                file: file.to_path_buf(),
                problem,
            };
            let certs = CertificateDer::pem_file_iter(file).map_err(|e| ca_error(e.to_string()))?;
            for cert in certs {
                let cert = cert.map_err(|e| ca_error(e.to_string()))?;
                roots.add(cert).map_err(|e| ca_error(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(ca_error("holds no PEM certificate".into()));
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            for cert in native.certs {
                // One unusable system certificate does not make the others useless.
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(MqttError::Tls(
                    "the system's CA store is empty: name the broker's CA in `ca_file`".into(),
                ));
            }
        }
    }
    // ring, not aws-lc-rs: no C toolchain beyond ring's own. rustls marks it deprecated for
    // lacking post-quantum key exchange, which MQTT brokers do not require.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| MqttError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// What both threads share.
struct Shared {
    settings: MqttSettings,
    context: MqttContext,
    topics: Topics,
    client: Client,
    last_caller: Mutex<Option<String>>,
    dropped: AtomicU64,
    stop: Shutdown,
}

impl Shared {
    fn publish(&self, topic: String, retain: bool, payload: impl Into<Vec<u8>>) {
        if self
            .client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload)
            .is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn state(&self, subscription_drops: u64) -> StatePayload {
        let last = self
            .last_caller
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        StatePayload::from_snapshot(
            &self.context.bot.snapshot(),
            last,
            self.dropped.load(Ordering::Relaxed) + subscription_drops,
        )
    }

    fn publish_state(&self, state: &StatePayload) {
        let text = serde_json::to_string(state).unwrap_or_else(|_| "{}".into());
        self.publish(self.topics.state(), true, text);
    }

    /// Availability, state and (when enabled) discovery: after each connect and each
    /// `online` of Home Assistant.
    fn announce(&self) {
        self.publish(self.topics.availability(), true, "online");
        self.publish_state(&self.state(0));
        if !self.settings.discovery {
            return;
        }
        let snapshot = self.context.bot.snapshot();
        let Some(identity) = snapshot.identity else {
            return;
        };
        let device = discovery::DeviceInfo {
            imei: identity.imei.clone().unwrap_or_else(|| {
                self.topics
                    .base()
                    .rsplit('/')
                    .next()
                    .unwrap_or("")
                    .to_owned()
            }),
            model: identity.model,
            manufacturer: identity.manufacturer,
            revision: identity.revision,
        };
        for m in discovery::messages(
            &self.settings.discovery_prefix,
            &self.topics,
            &device,
            self.settings.notify_to.as_deref(),
        ) {
            self.publish(m.topic, true, m.payload.to_string());
        }
    }

    fn subscribe_commands(&self) {
        for topic in [
            self.topics.sms_send(),
            self.topics.call_hangup(),
            self.topics.call_dial(),
            format!("{}/status", self.settings.discovery_prefix),
        ] {
            if let Err(e) = self.client.try_subscribe(topic.clone(), QoS::AtLeastOnce) {
                log::warn!("mqtt: cannot subscribe to {topic}: {e}");
            }
        }
    }

    fn on_message(&self, topic: &str, payload: &[u8]) {
        if topic == self.topics.sms_send() {
            let reply = self.sms_send(payload);
            self.publish(self.topics.sms_send_reply(), false, reply.to_string());
        } else if topic == self.topics.call_hangup() {
            if self.context.bot.snapshot().current_call.is_none() {
                log::info!("mqtt: call/hangup without a call: nothing to hang up");
            } else if !self.context.bot.hang_up() {
                log::warn!("mqtt: call/hangup while the bot is not running");
            } else {
                log::info!("mqtt: hang-up requested");
            }
        } else if topic == self.topics.call_dial() {
            let reply = self.dial(payload);
            self.publish(self.topics.call_dial_reply(), false, reply.to_string());
        } else if topic == format!("{}/status", self.settings.discovery_prefix)
            && payload == b"online"
        {
            log::info!("mqtt: Home Assistant is online: discovery published again");
            self.announce();
        }
    }

    /// `call/dial`: the bot dials as for `POST /calls` (one call at a time); the reply
    /// gives the call's id (its events follow on `events/call`) or why not.
    fn dial(&self, payload: &[u8]) -> Value {
        let request = match topics::parse_dial(payload) {
            Ok(r) => r,
            Err((request_id, error)) => {
                log::warn!("mqtt: call/dial refused: {error}");
                return json!({"request_id": request_id, "ok": false, "error": error});
            }
        };
        let refuse =
            |error: String| json!({"request_id": request.request_id, "ok": false, "error": error});
        let Some(answer) = self.context.bot.dial(&request.to, request.timeout_s) else {
            return refuse("the bot is not running".into());
        };
        match answer.recv_timeout(DIAL_ANSWER_TIMEOUT) {
            Ok(Ok(call_id)) => {
                log::info!("mqtt: dialling {} (call {call_id})", request.to);
                json!({
                    "request_id": request.request_id,
                    "ok": true,
                    "call_id": crate::events::model::call_id_text(call_id),
                })
            }
            Ok(Err(refused)) => refuse(refused.to_string()),
            Err(_) => refuse(format!(
                "the bot did not start the dial within {} s",
                DIAL_ANSWER_TIMEOUT.as_secs()
            )),
        }
    }

    /// `sms/send`: validated and queued as `POST /sms` does; the reply says how it went.
    fn sms_send(&self, payload: &[u8]) -> Value {
        let request = match topics::parse_sms_send(payload) {
            Ok(r) => r,
            Err((request_id, error)) => {
                log::warn!("mqtt: sms/send refused: {error}");
                return json!({"request_id": request_id, "ok": false, "error": error});
            }
        };
        let refuse =
            |error: String| json!({"request_id": request.request_id, "ok": false, "error": error});
        let sms = match ValidatedSms::new(&request.to, &request.text, self.context.policy) {
            Ok(s) => s,
            Err(rejection) => return refuse(rejection.to_string()),
        };
        match self.context.queue.enqueue(&sms) {
            Ok(id) => {
                if !self.context.bot.sms_queued() {
                    log::warn!(
                        "SMS {id} queued while the bot is not running: it is sent at the next start"
                    );
                }
                log::info!("mqtt: SMS {id} to {} queued", request.to);
                json!({
                    "request_id": request.request_id,
                    "ok": true,
                    "id": id.as_str(),
                    "state": "queued",
                    "encoding": sms.encoding().as_str(),
                    "parts": sms.parts(),
                })
            }
            Err(e @ QueueError::Full { .. }) => refuse(e.to_string()),
            Err(e) => {
                log::error!("mqtt: SMS to {} not queued: {e}", request.to);
                refuse(format!("the message could not be queued: {e}"))
            }
        }
    }
}

/// How long `call/dial` waits for the bot to start dialling (the `ATD` itself).
pub const DIAL_ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Drives the client until stopped: (re)subscribes and announces on every connect,
/// answers commands.
fn drive(shared: &Shared, mut connection: Connection) {
    for notification in connection.iter() {
        match notification {
            Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => {
                log::info!("mqtt: connected as {}", shared.topics.base());
                shared.subscribe_commands();
                shared.announce();
            }
            Ok(MqttEvent::Incoming(Packet::Publish(p))) => shared.on_message(&p.topic, &p.payload),
            Ok(MqttEvent::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
            Ok(_) => {}
            Err(e) => {
                if shared.stop.is_stopping() {
                    break;
                }
                log::warn!("mqtt: {e}; trying again in {} s", RECONNECT_PAUSE.as_secs());
                if shared.stop.wait_timeout(RECONNECT_PAUSE) {
                    break;
                }
            }
        }
    }
}

impl Mqtt {
    /// Starts MQTT when `[mqtt] url` is set (`Ok(None)` otherwise). The subscription to the
    /// bus is made now, so the bot's first events are not missed.
    pub fn start(settings: &MqttSettings, context: MqttContext) -> Result<Option<Mqtt>, MqttError> {
        if settings.url.is_none() {
            return Ok(None);
        }
        settings.validate()?;
        let broker = settings.broker()?;
        let tls = if broker.tls {
            Some(tls_config(settings.ca_file.as_deref())?)
        } else {
            None
        };
        let subscription =
            context
                .bot
                .events()
                .subscribe("mqtt", settings.queue, Overflow::DropOldest);
        let stop = Shutdown::new();
        let settings = settings.clone();
        let thread_stop = stop.clone();
        let publisher = std::thread::Builder::new()
            .name("mqtt".into())
            .spawn(move || publisher(settings, broker, tls, context, subscription, thread_stop))
            .map_err(MqttError::Thread)?;
        Ok(Some(Mqtt {
            stop,
            publisher: Some(publisher),
        }))
    }

    /// Publishes `offline`, disconnects, and waits (bounded) for the threads.
    pub fn shutdown(mut self) {
        self.stop.stop();
        if let Some(p) = self.publisher.take() {
            let deadline = Instant::now() + SHUTDOWN_GRACE + Duration::from_secs(1);
            while !p.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if p.is_finished() {
                let _ = p.join();
            } else {
                log::warn!("mqtt: the broker did not take the last messages in time");
            }
        }
    }
}

/// The id the topics use: the modem's IMEI once it told it, else the configured one.
fn wait_for_id(context: &MqttContext, stop: &Shutdown) -> Option<String> {
    loop {
        let told = context.bot.snapshot().identity.and_then(|i| i.imei);
        if let Some(imei) = told.or_else(|| context.configured_imei.clone()) {
            return Some(imei);
        }
        if stop.wait_timeout(Duration::from_millis(100)) {
            return None;
        }
    }
}

fn publisher(
    settings: MqttSettings,
    broker: settings::Broker,
    tls: Option<rustls::ClientConfig>,
    context: MqttContext,
    subscription: Subscription,
    stop: Shutdown,
) {
    let Some(id) = wait_for_id(&context, &stop) else {
        return;
    };
    let topics = Topics::new(&settings.topic_prefix, &id);
    let client_id = settings
        .client_id
        .clone()
        .unwrap_or_else(|| format!("sim7600-{id}"));
    let mut options = MqttOptions::new(client_id, broker.host.clone(), broker.port);
    options.set_keep_alive(settings.keep_alive());
    options.set_max_packet_size(MAX_PACKET, MAX_PACKET);
    options.set_last_will(LastWill::new(
        topics.availability(),
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    if let Some(user) = &broker.username {
        options.set_credentials(user.clone(), broker.password.clone().unwrap_or_default());
    }
    if let Some(tls) = tls {
        options.set_transport(Transport::tls_with_config(tls.into()));
    }
    let (client, connection) = Client::new(options, settings.queue + EXTRA_REQUESTS);
    log::info!(
        "mqtt: {}://{}:{} as {}",
        if broker.tls { "mqtts" } else { "mqtt" },
        broker.host,
        broker.port,
        topics.base()
    );
    let shared = Arc::new(Shared {
        settings,
        context,
        topics,
        client,
        last_caller: Mutex::new(None),
        dropped: AtomicU64::new(0),
        stop: stop.clone(),
    });
    let driver_shared = Arc::clone(&shared);
    let driver = std::thread::Builder::new()
        .name("mqtt-connection".into())
        .spawn(move || drive(&driver_shared, connection));
    let driver = match driver {
        Ok(d) => d,
        Err(e) => {
            log::error!("mqtt: cannot start the connection thread: {e}");
            return;
        }
    };
    let mut last_state: Option<StatePayload> = None;
    let mut next_refresh = Instant::now();
    loop {
        if stop.is_stopping() {
            break;
        }
        match subscription.recv_timeout(Duration::from_millis(200)) {
            Recv::Event(event) => {
                if let Some(caller) = topics::caller_of(&event.kind) {
                    *shared.last_caller.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(caller.to_owned());
                }
                let group = EventGroup::of(&event.kind);
                shared.publish(
                    shared.topics.events(group),
                    false,
                    topics::event_payload(&event),
                );
                // The state follows every event at once.
                next_refresh = Instant::now();
            }
            Recv::Timeout => {}
            Recv::Closed => break,
        }
        if Instant::now() >= next_refresh {
            let state = shared.state(subscription.dropped());
            if last_state.as_ref() != Some(&state) {
                shared.publish_state(&state);
                last_state = Some(state);
            }
            next_refresh = Instant::now() + STATE_REFRESH;
        }
    }
    // The last events of a stopping bot, then `offline` (retained), then goodbye.
    while let Some(event) = subscription.try_recv() {
        shared.publish(
            shared.topics.events(EventGroup::of(&event.kind)),
            false,
            topics::event_payload(&event),
        );
    }
    shared.publish(shared.topics.availability(), true, "offline");
    let drops = shared.dropped.load(Ordering::Relaxed) + subscription.dropped();
    if drops > 0 {
        log::warn!("mqtt: {drops} message(s) dropped while the broker did not keep up");
    }
    stop.stop();
    if let Err(e) = shared.client.try_disconnect() {
        log::debug!("mqtt: disconnect: {e}");
    }
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    while !driver.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}
