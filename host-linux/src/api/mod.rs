//! The bot's HTTP API (127.0.0.1:8088 by default): SMS while the bot owns the port, its
//! status and its call log.
//!
//! This module owns the listening socket and the server that answers on it
//! ([`ApiServer`]); what each path means is [`routes`], sans-I/O; the `[api]` table is
//! [`settings`]. The API never talks to the modem: `POST /sms` writes the message durably
//! into the queue ([`crate::spool::queue`]) and wakes the bot, whose loop is the port's only
//! writer; `GET /status` and `GET /calls` read what the bot publishes
//! ([`crate::bot::BotState`]), as do `GET /metrics` and `GET /healthz` ([`monitoring`]).
//!
//! During a call with audio it also plays into the call, hangs it up, speaks text into it
//! and streams the caller's audio live (docs/audio.md): the call's audio is what the bot
//! publishes in [`crate::bot::BotState::call_audio`]; speech is synthesized on a thread of
//! [`speech`], the live stream is a body of [`audio_stream`].
//!
//! hyper serves it (HTTP/1.1, upgrades open for WebSockets) on a tokio runtime of one
//! thread of its own, `api`: connections cost a task, not a thread. The routes, which
//! block (the queue's fsync, `/status`'s system view when it must be gathered, decoding a
//! WAV), run on at most [`ROUTE_THREADS`] threads beside it, started on demand and ended
//! when idle; [`system_view`] keeps that view so that most `/status` requests do not
//! gather it. The limits
//! that keep one client from stopping the API (`[api]` settings, docs/api.md): a
//! connection cap (503 beyond it), a head timeout and [`MAX_HEAD_BYTES`] (431 beyond),
//! a body timeout (408), a body limit checked against the announced length before anything
//! is read or allocated, and against what arrives for a chunked body (413). The bot's
//! shutdown stops it: [`ApiServer::shutdown`] closes the socket, lets each connection end
//! its request, and after [`SHUTDOWN_GRACE`] drops what is left.

pub mod audio_stream;
pub mod monitoring;
pub mod routes;
mod server;
pub mod settings;
pub mod speech;
pub mod sse;
pub mod system_view;

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use routes::{
    ApiContext, ApiRequest, ApiResponse, HostPolicy, RequestBody, SystemStatus, handle,
};
pub use settings::{ApiSettings, ApiSettingsError, DEFAULT_LISTEN};

/// Threads that run the routes at most (started when a request comes, ended after
/// [`ROUTE_THREAD_IDLE`] without one); a third request waits for one of them.
pub const ROUTE_THREADS: usize = 2;
/// How long an idle route thread is kept.
pub const ROUTE_THREAD_IDLE: Duration = Duration::from_secs(10);
/// How long stopping the API waits for the requests under way (a slow client, a slow
/// systemctl behind `/status`) before it drops them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Largest request head (request line and headers, cookies included); a longer one is
/// answered 431 after at most this much was buffered.
pub const MAX_HEAD_BYTES: usize = 32 * 1024;
/// Connections beyond the cap answered 503 at once; while that many are being refused,
/// further ones wait in the kernel's listen queue.
pub const MAX_REFUSING: usize = 32;
/// How long a connection beyond the cap has to send its request's head before its 503.
pub const REFUSAL_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections the kernel queues for the server before it accepts them (the kernel's
/// `net.core.somaxconn` may lower it).
pub const LISTEN_BACKLOG: u32 = 1024;
/// File descriptors the bot keeps for itself beside the API's connections (the port, the
/// spool's files, logs, the pipes of its children).
pub const RESERVED_FDS: u64 = 64;

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
    /// The runtime or its thread could not be started.
    #[error("the HTTP API cannot start its thread: {0}")]
    Spawn(std::io::Error),
}

/// The running API. Dropping it (or [`ApiServer::shutdown`]) stops the server and closes
/// the socket.
pub struct ApiServer {
    addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
    /// The server's thread sends one message here when it ends.
    ended: mpsc::Receiver<()>,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl ApiServer {
    /// Checks `settings` (refusing a non-loopback address without a token), binds, and
    /// serves `context`. `settings.token` is what requests must carry, and the listen
    /// address and `allowed_hosts` what their `Host` and `Origin` may name (the context's
    /// token and host policy are replaced by them).
    pub fn start(settings: &ApiSettings, mut context: ApiContext) -> Result<Self, ApiError> {
        settings.validate()?;
        context.token = settings.token.clone();
        context.hosts = HostPolicy::new(settings.listen, &settings.allowed_hosts);
        let bind_error = |e: std::io::Error| ApiError::Bind {
            addr: settings.listen,
            problem: e.to_string(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .max_blocking_threads(ROUTE_THREADS)
            .thread_keep_alive(ROUTE_THREAD_IDLE)
            .thread_name("api-route")
            // Routes need little stack; the default 2 MiB would be address space reserved
            // for nothing.
            .thread_stack_size(256 * 1024)
            .build()
            .map_err(ApiError::Spawn)?;
        let listener = {
            let _inside = runtime.enter();
            listen(settings.listen).map_err(bind_error)?
        };
        let addr = listener.local_addr().unwrap_or(settings.listen);
        let limits = server::Limits {
            json: settings.max_body_bytes,
            audio: settings.max_audio_body_bytes,
            max_connections: fit_connection_cap(settings.max_connections),
            header_timeout: Duration::from_secs(settings.header_timeout_s),
            body_timeout: Duration::from_secs(settings.body_timeout_s),
        };
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (ended_tx, ended) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("api".into())
            .stack_size(512 * 1024)
            .spawn(move || {
                runtime.block_on(server::serve(listener, context, limits, stopped));
                // What is left (a stream past the grace, a route stuck in systemctl) is
                // dropped, not waited for.
                runtime.shutdown_timeout(Duration::from_millis(100));
                // The receiver may be gone (the server dropped without waiting).
                let _ = ended_tx.send(());
            })
            .map_err(ApiError::Spawn)?;
        log::info!("HTTP API listening on http://{addr}");
        Ok(Self {
            addr,
            stop,
            thread: Some(thread),
            ended,
        })
    }

    /// The address it listens on (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and closes the socket.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        // A receiver that is gone means the server ended already.
        let _ = self.stop.send(true);
        let Some(thread) = self.thread.take() else {
            return;
        };
        let bound = SHUTDOWN_GRACE + Duration::from_secs(1);
        match self.ended.recv_timeout(bound) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                if thread.join().is_err() {
                    log::error!("the HTTP API's thread panicked");
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => log::warn!(
                "the HTTP API did not stop within {} ms; not waiting",
                bound.as_millis()
            ),
        }
    }
}

/// Binds `addr` with a listen queue of [`LISTEN_BACKLOG`] (std's is 128: a burst of
/// connections beyond it would see their handshakes dropped and retried a second later).
fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The connection cap that fits the process's file descriptor limit: the soft limit is
/// raised (up to the hard one) to hold `wanted` connections, the refusals and the bot's
/// own files; if the hard limit is too low, the cap is lowered to fit, and said.
fn fit_connection_cap(wanted: usize) -> usize {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft_raw, hard_raw)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return wanted;
    };
    // rlim_t is 32 bits on 32-bit Linux (armhf) and 64 bits elsewhere.
    #[allow(clippy::useless_conversion)]
    let (soft, hard) = (u64::from(soft_raw), u64::from(hard_raw));
    let (cap, raise) = connection_cap(wanted, soft, hard);
    if let Some(new_soft) = raise {
        // Never above the hard limit, which came as an rlim_t: it fits.
        #[allow(clippy::useless_conversion)]
        let new_soft_raw = nix::libc::rlim_t::try_from(new_soft).unwrap_or(hard_raw);
        if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, new_soft_raw, hard_raw) {
            log::warn!("cannot raise the open-file limit from {soft} to {new_soft}: {e}");
            return connection_cap(wanted, soft, soft).0;
        }
    }
    if cap < wanted {
        log::warn!(
            "[api] max_connections {wanted} does not fit the open-file limit of {hard} \
             (LimitNOFILE); the API takes at most {cap} connections"
        );
    }
    cap
}

/// `(cap, new soft limit if it must be raised)` for `wanted` connections under the
/// RLIMIT_NOFILE `soft` and `hard` limits.
fn connection_cap(wanted: usize, soft: u64, hard: u64) -> (usize, Option<u64>) {
    let extra = RESERVED_FDS + MAX_REFUSING as u64;
    let needed = (wanted as u64).saturating_add(extra);
    let limit = needed.min(hard);
    let raise = (limit > soft).then_some(limit);
    let room = limit.max(soft).saturating_sub(extra);
    let floor = *settings::MAX_CONNECTIONS_RANGE.start();
    let cap = usize::try_from(room)
        .unwrap_or(usize::MAX)
        .min(wanted)
        .max(floor);
    (cap, raise)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::sse;
    use crate::bot::{BotRequest, BotState};
    use crate::calls::{CallLog, CallLogSettings};
    use crate::spool::queue::{SmsPolicy, SmsQueue};
    use futures::StreamExt;
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::sync::Arc;
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
            twilio: None,
            queue: SmsQueue::open(&dir.join("queue")).unwrap(),
            policy: SmsPolicy::default(),
            bot,
            system_status: Arc::new(|| serde_json::json!({})),
            token: None,
            speech: None,
            hosts: HostPolicy::default(),
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
        // Header names are case-insensitive: compare them in lower case.
        (status, head.to_ascii_lowercase(), body.to_owned())
    }

    #[test]
    fn an_sms_posted_over_http_is_queued_and_wakes_the_bot() {
        let dir = tempfile::tempdir().unwrap();
        let (context, mut requests) = context(dir.path());
        let queue = context.queue.clone();
        let api = ApiServer::start(&local(), context).unwrap();
        let body = r#"{"to": "+491721234567", "text": "Hello 😀"}"#;
        let raw = format!(
            "POST /sms HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let (status, head, answer) = exchange(api.local_addr(), raw.as_bytes());
        assert_eq!(status, 202, "{head}\n{answer}");
        assert!(head.contains("content-type: application/json"), "{head}");
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
            "POST /sms HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            MIN_BODY + 1,
            "x".repeat(MIN_BODY + 1)
        );
        let (status, head, body) = exchange(api.local_addr(), declared.as_bytes());
        assert_eq!(status, 413, "{head}\n{body}");
        assert!(body.contains("\"field\":\"body\""), "{body}");

        // A client that announces 10 MB is answered before it sends any of it.
        let announced = "POST /sms HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\nConnection: close\r\n\r\n";
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
            "POST /sms HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
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
            b"GET /sms HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status, 405);
        assert!(head.contains("allow: post"), "{head}");
        let (status, _, body) = exchange(
            api.local_addr(),
            b"GET /favicon.ico HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
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
                b"POST /sms HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2000\r\n\r\n{\"to\": \"+4",
            )
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let (status, _, _) = exchange(
            api.local_addr(),
            b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
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

    /// Reads until the peer closes (or 10 s pass); what came.
    fn read_until_closed(stream: &mut TcpStream) -> String {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[test]
    fn a_body_sent_too_slowly_is_408_and_its_connection_closed() {
        let dir = tempfile::tempdir().unwrap();
        let (context, _requests) = context(dir.path());
        let settings = ApiSettings {
            body_timeout_s: 1,
            ..local()
        };
        let api = ApiServer::start(&settings, context).unwrap();
        let mut slow = TcpStream::connect(api.local_addr()).unwrap();
        slow.write_all(
            b"POST /sms HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"to\"",
        )
        .unwrap();
        let started = std::time::Instant::now();
        let answer = read_until_closed(&mut slow);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("\"field\":\"body\""), "{answer}");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
    }

    #[test]
    fn a_client_that_sends_no_head_is_closed_at_the_header_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let (context, _requests) = context(dir.path());
        let settings = ApiSettings {
            header_timeout_s: 1,
            ..local()
        };
        let api = ApiServer::start(&settings, context).unwrap();
        let mut idle = TcpStream::connect(api.local_addr()).unwrap();
        idle.write_all(b"GET /sta").unwrap();
        let started = std::time::Instant::now();
        let answer = read_until_closed(&mut idle);
        assert_eq!(answer, "", "closed without an answer");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
    }

    #[test]
    fn beyond_the_connection_cap_a_request_is_503_in_json_and_the_api_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let (context, _requests) = context(dir.path());
        let cap = *settings::MAX_CONNECTIONS_RANGE.start();
        let settings = ApiSettings {
            max_connections: cap,
            ..local()
        };
        let api = ApiServer::start(&settings, context).unwrap();
        let held: Vec<_> = (0..cap)
            .map(|_| TcpStream::connect(api.local_addr()).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        let (status, head, body) = exchange(
            api.local_addr(),
            b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status, 503, "{head}\n{body}");
        assert!(head.contains("retry-after: 1"), "{head}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("max_connections"),
            "{body}"
        );
        let (status, _, body) = exchange(
            api.local_addr(),
            b"POST /send HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status, 503);
        assert!(
            body.contains("\"success\":false"),
            "the drop-in shape: {body}"
        );
        drop(held);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let (status, _, _) = exchange(
                api.local_addr(),
                b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            );
            if status == 200 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "still {status}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[test]
    fn an_unrepresentable_length_is_refused_a_huge_one_413_and_a_huge_head_431() {
        let dir = tempfile::tempdir().unwrap();
        let (context, _requests) = context(dir.path());
        let api = ApiServer::start(&local(), context).unwrap();
        let (status, _, body) = exchange(
            api.local_addr(),
            b"POST /sms HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n",
        );
        assert_eq!(status, 413, "{body}");
        // Beyond what hyper can count (u64::MAX - 2): its own 431, before the routes.
        let (status, _, _) = exchange(
            api.local_addr(),
            b"POST /sms HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 18446744073709551615\r\n\r\n",
        );
        assert_eq!(status, 431);
        let mut big = TcpStream::connect(api.local_addr()).unwrap();
        big.write_all(b"GET /status HTTP/1.1\r\nX-Big: ").unwrap();
        let line = vec![b'a'; 64 * 1024];
        // The server answers and closes once its head buffer is full; later writes fail.
        let mut sent = 0;
        while sent < 4 * 1024 * 1024 && big.write_all(&line).is_ok() {
            sent += line.len();
        }
        let answer = read_until_closed(&mut big);
        assert!(
            answer.starts_with("HTTP/1.1 431"),
            "{answer:?} after {sent} bytes"
        );
        let (status, _, _) = exchange(
            api.local_addr(),
            b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status, 200, "the API goes on");
    }

    #[test]
    fn a_foreign_host_is_421_a_foreign_origin_403_and_a_form_body_415() {
        let dir = tempfile::tempdir().unwrap();
        let (context, _requests) = context(dir.path());
        let api = ApiServer::start(&local(), context).unwrap();
        let (status, _, body) = exchange(
            api.local_addr(),
            b"GET /status HTTP/1.1\r\nHost: rebind.example:8088\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status, 421, "{body}");
        let (status, _, body) = exchange(
            api.local_addr(),
            b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://evil.example\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status, 403, "{body}");
        let form = "to=%2B4917&text=hi";
        let raw = format!(
            "POST /sms HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
            form.len()
        );
        let (status, _, body) = exchange(api.local_addr(), raw.as_bytes());
        assert_eq!(status, 415, "{body}");
    }

    #[test]
    fn events_stream_over_http_and_a_gone_client_leaves_the_bus() {
        let dir = tempfile::tempdir().unwrap();
        let (context, _requests) = context(dir.path());
        let bus = context.bot.events().clone();
        let api = ApiServer::start(&local(), context).unwrap();
        let mut client = TcpStream::connect(api.local_addr()).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        client
            .write_all(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        let mut seen = String::new();
        let mut buf = [0u8; 4096];
        while !seen.contains(sse::OPENING) {
            let n = client.read(&mut buf).unwrap();
            assert!(n > 0, "{seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
        assert!(seen.contains("Content-Type: text/event-stream"), "{seen}");
        assert_eq!(bus.subscriber_count(), 1);
        bus.sms_received("+4917", "hallo", "2026-11-24T06:00:00Z");
        while !seen.contains("\"text\":\"hallo\"") {
            let n = client.read(&mut buf).unwrap();
            assert!(n > 0, "{seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        drop(client);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while bus.subscriber_count() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the gone client still holds its place"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn the_connection_cap_fits_the_open_file_limit() {
        let extra = RESERVED_FDS + MAX_REFUSING as u64;
        // Room enough: nothing to change.
        assert_eq!(connection_cap(512, 20_000, 20_000), (512, None));
        // systemd's default soft limit: raised up to what is needed.
        assert_eq!(
            connection_cap(512, 1024, 524_288),
            (512, None),
            "1024 holds 512 and the rest"
        );
        assert_eq!(
            connection_cap(2000, 1024, 524_288),
            (2000, Some(2000 + extra))
        );
        // A hard limit too low: the cap shrinks to fit.
        assert_eq!(connection_cap(512, 256, 256), (256 - extra as usize, None));
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
            b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status, 401);
        assert!(head.contains("www-authenticate: bearer"), "{head}");
        let (status, _, body) = exchange(
            api.local_addr(),
            b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer abcdefghijklmnopqrstuvwxyz\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status, 200, "{body}");
    }
}
