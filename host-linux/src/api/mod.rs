//! The bot's HTTP API (127.0.0.1:8088 by default): SMS while the bot owns the port, its
//! status and its call log.
//!
//! This module owns the listening socket and the threads that serve it ([`ApiServer`]);
//! what each path means is [`routes`], sans-I/O; the `[api]` table is [`settings`]. The
//! API never talks to the modem: `POST /sms` writes the message durably into the queue
//! ([`crate::sms_queue`]) and wakes the bot, whose loop is the port's only writer; `GET
//! /status` and `GET /calls` read what the bot publishes ([`crate::bot::BotState`]).
//!
//! During a call with audio it also plays into the call, hangs it up, speaks text into it
//! and streams the caller's audio live (docs/audio.md): the call's audio is what the bot
//! publishes in [`crate::bot::BotState::call_audio`]; speech is synthesized on a thread of
//! [`speech`], the live stream written by a thread of [`audio_stream`].
//!
//! `tiny_http` serves it: a small blocking server, no async runtime, a few threads, so
//! the bot stays small. Two workers take requests from its queue, so one slow `/status`
//! (it asks systemctl) does not hold up an SMS; a long response (`GET /events`, `GET
//! /calls/current/audio`) is handed to a thread of its own (at most eight of each), so
//! the workers are free for the next request at once.

pub mod audio_stream;
pub mod routes;
pub mod settings;
pub mod speech;

use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use routes::{ApiContext, ApiRequest, ApiResponse, RequestBody, SystemStatus, handle};
pub use settings::{ApiSettings, ApiSettingsError, DEFAULT_LISTEN};

/// Threads that answer requests.
pub const WORKERS: usize = 2;
/// How long stopping the API waits for a worker busy with a request (a slow client, a
/// slow systemctl behind `/status`) before it leaves the worker to finish on its own.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The `[api]` settings are unusable (a public address without a token, ...).
    #[error(transparent)]
    Settings(#[from] ApiSettingsError),
    /// The address could not be bound.
    #[error("the HTTP API cannot listen on {addr}: {problem}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        problem: String,
    },
    /// A worker thread could not be started.
    #[error("the HTTP API cannot start its worker thread: {0}")]
    Spawn(std::io::Error),
}

/// The running API. Dropping it (or [`ApiServer::shutdown`]) stops the workers and closes
/// the socket.
pub struct ApiServer {
    server: Arc<tiny_http::Server>,
    workers: Vec<JoinHandle<()>>,
    /// Each worker sends one message here when it ends.
    ended: mpsc::Receiver<()>,
    addr: SocketAddr,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("addr", &self.addr)
            .field("workers", &self.workers.len())
            .finish()
    }
}

impl ApiServer {
    /// Checks `settings` (refusing a non-loopback address without a token), binds, and
    /// serves `context`. `settings.token` is what requests must carry (the context's token
    /// is replaced by it).
    pub fn start(settings: &ApiSettings, mut context: ApiContext) -> Result<Self, ApiError> {
        settings.validate()?;
        context.token = settings.token.clone();
        let server = tiny_http::Server::http(settings.listen).map_err(|e| ApiError::Bind {
            addr: settings.listen,
            problem: e.to_string(),
        })?;
        let addr = server.server_addr().to_ip().unwrap_or(settings.listen);
        let server = Arc::new(server);
        let (ended_tx, ended) = mpsc::channel();
        let mut api = Self {
            server,
            workers: Vec::with_capacity(WORKERS),
            ended,
            addr,
        };
        for n in 0..WORKERS {
            let server = Arc::clone(&api.server);
            let context = context.clone();
            let limits = BodyLimits {
                json: settings.max_body_bytes,
                audio: settings.max_audio_body_bytes,
            };
            let ended = ended_tx.clone();
            let worker = std::thread::Builder::new()
                .name(format!("api-{n}"))
                // Requests need little stack; the default 2 MiB would be address space
                // reserved for nothing.
                .stack_size(256 * 1024)
                .spawn(move || {
                    serve(&server, &context, limits);
                    // The receiver may be gone (the server dropped without waiting).
                    let _ = ended.send(());
                })
                .map_err(ApiError::Spawn)?;
            api.workers.push(worker);
        }
        log::info!("HTTP API listening on http://{addr}");
        Ok(api)
    }

    /// The address it listens on (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the workers and closes the socket.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        // One unblock per worker: each takes one and returns from recv with an error.
        for _ in &self.workers {
            self.server.unblock();
        }
        // tiny_http has no read timeout, so a worker can be stuck on a client that sends
        // its body slowly: wait a bounded time, then leave it (it holds only its request
        // and a clone of the server, and ends with that request or with the process).
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        let mut ended = 0;
        while ended < self.workers.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.ended.recv_timeout(left) {
                Ok(()) => ended += 1,
                Err(_) => break,
            }
        }
        if ended < self.workers.len() {
            log::warn!(
                "{} HTTP API worker(s) still busy with a request after {} ms; not waiting",
                self.workers.len() - ended,
                SHUTDOWN_GRACE.as_millis()
            );
            self.workers.clear();
            return;
        }
        for worker in self.workers.drain(..) {
            if worker.join().is_err() {
                log::error!("an HTTP API worker panicked");
            }
        }
    }
}

/// The body limits: `audio` for a WAV played into the call, `json` for the rest.
#[derive(Debug, Clone, Copy)]
struct BodyLimits {
    json: usize,
    audio: usize,
}

/// A worker: answers requests until unblocked.
fn serve(server: &tiny_http::Server, context: &ApiContext, limits: BodyLimits) {
    loop {
        let request = match server.recv() {
            Ok(request) => request,
            Err(e) => {
                log::debug!("HTTP API worker ends: {e}");
                return;
            }
        };
        answer(request, context, limits);
    }
}

fn answer(mut request: tiny_http::Request, context: &ApiContext, limits: BodyLimits) {
    let method = request.method().as_str().to_owned();
    let url = request.url().to_owned();
    let authorization = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| h.value.as_str().to_owned());
    let path = url.split_once('?').map_or(url.as_str(), |(p, _)| p);
    // The audio limit (megabytes) only for a caller who may play: anybody else is
    // answered 401 after at most the JSON limit was read.
    let limit = if path == routes::PLAY_PATH && routes::may_enter(context, authorization.as_deref())
    {
        limits.audio
    } else {
        limits.json
    };
    let body = read_body(&mut request, limit);
    let response = handle(
        context,
        ApiRequest {
            method: &method,
            url: &url,
            authorization: authorization.as_deref(),
            body,
        },
    );
    log::debug!("{method} {url} -> {}", response.status);
    if response.status == 200 && path == crate::events::sse::PATH {
        // A stream of its own thread: this worker is free for the next request at once.
        crate::events::sse::serve(request, context.bot.events());
        return;
    }
    if response.status == 200 && path == audio_stream::PATH {
        // The same; the call may have ended since the route looked (then 409).
        audio_stream::serve(request, context.bot.call_audio());
        return;
    }
    let text = response.body.to_string();
    let mut headers = vec![header("Content-Type", "application/json")];
    if let Some(allow) = response.allow {
        headers.push(header("Allow", allow));
    }
    if response.challenge {
        headers.push(header("WWW-Authenticate", "Bearer"));
    }
    if response.status == 413 {
        // The rest of the body is not wanted; the client should not send another request
        // behind it on this connection.
        headers.push(header("Connection", "close"));
    }
    let mut reply = tiny_http::Response::from_string(text).with_status_code(response.status);
    for h in headers.into_iter().flatten() {
        reply.add_header(h);
    }
    if let Err(e) = request.respond(reply) {
        log::debug!("{method} {url}: the client went away before the answer: {e}");
    }
}

/// Reads the body up to `limit` bytes: a declared or actual length beyond it is
/// [`RequestBody::TooLarge`] (the rest is not read).
fn read_body(request: &mut tiny_http::Request, limit: usize) -> RequestBody {
    if request.body_length().is_some_and(|n| n > limit) {
        return RequestBody::TooLarge { limit };
    }
    let mut body = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    match request.as_reader().take(cap).read_to_end(&mut body) {
        Ok(n) if n > limit => RequestBody::TooLarge { limit },
        Ok(_) => RequestBody::Read(body),
        Err(e) => RequestBody::Unreadable(e.to_string()),
    }
}

/// Answers `request` with `status` and `{"error": error}`: how a stream that cannot start
/// (`GET /events`, `GET /calls/current/audio`) refuses, from its own module. `what` names
/// the request in the log if the client left before the answer.
pub(crate) fn refuse(request: tiny_http::Request, status: u16, error: &str, what: &str) {
    let body = serde_json::json!({ "error": error }).to_string();
    let mut response = tiny_http::Response::from_string(body).with_status_code(status);
    if let Some(h) = header("Content-Type", "application/json") {
        response.add_header(h);
    }
    if let Err(e) = request.respond(response) {
        log::debug!("{what}: the client went away before the {status}: {e}");
    }
}

/// A response header. Every name and value passed is an ASCII constant of this module,
/// which `Header` accepts; a `None` would only drop that header, never panic a worker.
fn header(name: &str, value: &str) -> Option<tiny_http::Header> {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bot::{BotRequest, BotState, CallLog, CallLogSettings};
    use crate::sms_queue::{SmsPolicy, SmsQueue};
    use futures::StreamExt;
    use std::io::Write;
    use std::net::TcpStream;
    use std::time::Duration;

    fn context(dir: &std::path::Path) -> (ApiContext, crate::bot::BotRequests) {
        let (bot, requests) = BotState::new(
            "/dev/ttyUSB2".into(),
            CallLog::new(CallLogSettings {
                path: dir.join("calls.jsonl"),
                max_bytes: 1 << 20,
                keep: 1,
            }),
        );
        let context = ApiContext {
            queue: SmsQueue::open(&dir.join("queue")).unwrap(),
            policy: SmsPolicy::default(),
            bot,
            system_status: Arc::new(|| serde_json::json!({})),
            token: None,
            speech: None,
        };
        (context, requests)
    }

    fn local() -> ApiSettings {
        ApiSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..ApiSettings::default()
        }
    }

    /// Sends raw request bytes, returns (status, headers, body) of the answer.
    fn exchange(addr: SocketAddr, raw: &[u8]) -> (u16, String, String) {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(raw).unwrap();
        let mut answer = Vec::new();
        // Connection: close in every request: the answer ends at EOF.
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, head.to_owned(), body.to_owned())
    }

    #[test]
    fn an_sms_posted_over_http_is_queued_and_wakes_the_bot() {
        let dir = tempfile::tempdir().unwrap();
        let (context, mut requests) = context(dir.path());
        let queue = context.queue.clone();
        let api = ApiServer::start(&local(), context).unwrap();
        let body = r#"{"to": "+491721234567", "text": "Hello 😀"}"#;
        let raw = format!(
            "POST /sms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let (status, head, answer) = exchange(api.local_addr(), raw.as_bytes());
        assert_eq!(status, 202, "{head}\n{answer}");
        assert!(head.contains("Content-Type: application/json"), "{head}");
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["encoding"], "UCS2");
        assert_eq!(queue.active().unwrap().len(), 1);
        let woken = futures::executor::block_on(requests.next());
        assert_eq!(woken, Some(BotRequest::SmsQueued));
        api.shutdown();
    }

    #[test]
    fn a_body_over_the_limit_is_413_whether_declared_or_chunked() {
        let dir = tempfile::tempdir().unwrap();
        let (context, _requests) = context(dir.path());
        let settings = ApiSettings {
            max_body_bytes: MIN_BODY,
            ..local()
        };
        let api = ApiServer::start(&settings, context).unwrap();
        let declared = format!(
            "POST /sms HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            MIN_BODY + 1,
            "x".repeat(MIN_BODY + 1)
        );
        let (status, head, body) = exchange(api.local_addr(), declared.as_bytes());
        assert_eq!(status, 413, "{head}\n{body}");
        assert!(body.contains("\"field\":\"body\""), "{body}");

        // A client that announces 10 MB is answered before it sends any of it.
        let announced = "POST /sms HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\nConnection: close\r\n\r\n";
        let mut stream = TcpStream::connect(api.local_addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(announced.as_bytes()).unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 413");
        drop(stream);

        let chunk = "x".repeat(MIN_BODY + 1);
        let chunked = format!(
            "POST /sms HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
            chunk.len()
        );
        let (status, _, _) = exchange(api.local_addr(), chunked.as_bytes());
        assert_eq!(status, 413);
    }

    const MIN_BODY: usize = settings::MIN_MAX_BODY_BYTES;

    #[test]
    fn a_wrong_method_gets_405_with_allow_and_an_unknown_path_404() {
        let dir = tempfile::tempdir().unwrap();
        let (context, _requests) = context(dir.path());
        let api = ApiServer::start(&local(), context).unwrap();
        let (status, head, _) = exchange(
            api.local_addr(),
            b"GET /sms HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status, 405);
        assert!(head.contains("Allow: POST"), "{head}");
        let (status, _, body) = exchange(
            api.local_addr(),
            b"GET /favicon.ico HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status, 404, "{body}");
    }

    #[test]
    fn a_client_stuck_mid_body_does_not_hold_up_other_requests_or_the_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let (context, _requests) = context(dir.path());
        let api = ApiServer::start(&local(), context).unwrap();
        // Announces 2000 bytes, sends 10, and waits: one worker blocks reading it.
        let mut stuck = TcpStream::connect(api.local_addr()).unwrap();
        stuck
            .write_all(
                b"POST /sms HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n{\"to\": \"+4",
            )
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let (status, _, _) = exchange(
            api.local_addr(),
            b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status, 200, "the other worker answers");
        let started = std::time::Instant::now();
        api.shutdown();
        assert!(
            started.elapsed() < SHUTDOWN_GRACE + Duration::from_secs(1),
            "shutdown waited {:?}",
            started.elapsed()
        );
        drop(stuck);
    }

    #[test]
    fn a_public_address_without_a_token_refuses_to_start() {
        let dir = tempfile::tempdir().unwrap();
        let (context, _requests) = context(dir.path());
        let settings = ApiSettings {
            listen: "0.0.0.0:0".parse().unwrap(),
            ..ApiSettings::default()
        };
        let error = ApiServer::start(&settings, context).unwrap_err();
        assert!(
            error.to_string().starts_with("[api] token: required"),
            "{error}"
        );
    }

    #[test]
    fn a_busy_port_is_a_clear_error_naming_the_address() {
        let dir = tempfile::tempdir().unwrap();
        let (context, _requests) = context(dir.path());
        let first = ApiServer::start(&local(), context.clone()).unwrap();
        let taken = ApiSettings {
            listen: first.local_addr(),
            ..ApiSettings::default()
        };
        let error = ApiServer::start(&taken, context).unwrap_err();
        assert!(
            error
                .to_string()
                .contains(&format!("cannot listen on {}", first.local_addr())),
            "{error}"
        );
    }

    #[test]
    fn the_token_is_checked_over_http_with_a_bearer_challenge() {
        let dir = tempfile::tempdir().unwrap();
        let (context, _requests) = context(dir.path());
        let settings = ApiSettings {
            token: Some("abcdefghijklmnopqrstuvwxyz".into()),
            ..local()
        };
        let api = ApiServer::start(&settings, context).unwrap();
        let (status, head, _) = exchange(
            api.local_addr(),
            b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status, 401);
        assert!(head.contains("WWW-Authenticate: Bearer"), "{head}");
        let (status, _, body) = exchange(
            api.local_addr(),
            b"GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer abcdefghijklmnopqrstuvwxyz\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status, 200, "{body}");
    }
}
