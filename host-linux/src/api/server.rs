//! The HTTP shell around [`super::routes`]: hyper's HTTP/1.1 connections on the API's
//! runtime, turning each request into an [`ApiRequest`] and each [`ApiResponse`] (or a
//! stream) into an HTTP response.
//!
//! This module owns the accept loop and the limits that keep clients from stopping the
//! API: the connection cap (a semaphore; beyond it a short-lived 503, beyond
//! [`MAX_REFUSING`] of those the kernel's listen queue), the head timeout and size (hyper:
//! the connection closes, or 431), the body limit (checked against `Content-Length`
//! before anything is read, counted as a chunked body arrives: 413) and the body timeout
//! (408). An accept that fails (out of file descriptors) pauses the loop, never ends it.

use std::convert::Infallible;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::routes::{self, ApiContext, ApiRequest, ApiResponse, RequestBody};
use super::{MAX_HEAD_BYTES, MAX_REFUSING, REFUSAL_TIMEOUT, SHUTDOWN_GRACE, audio_stream};
use crate::api::sse;

/// Pause after a failed accept (out of file descriptors): the pending connection stays in
/// the listen queue until one is free.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// At most one warning per this long about the cap or failed accepts.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// The server's limits, from the `[api]` settings.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Largest JSON body.
    pub json: usize,
    /// Largest WAV body (`POST /calls/current/play`, for a caller who may play).
    pub audio: usize,
    /// Connections at once.
    pub max_connections: usize,
    /// Time for a request's head.
    pub header_timeout: Duration,
    /// Time for a request's body.
    pub body_timeout: Duration,
}

struct Shared {
    context: ApiContext,
    limits: Limits,
    connections: Arc<Semaphore>,
    refusing: Arc<Semaphore>,
    last_warning: Mutex<Option<Instant>>,
}

impl Shared {
    /// Logs `message` unless a warning was logged within [`WARN_EVERY`].
    fn warn(&self, message: impl FnOnce() -> String) {
        let mut last = self
            .last_warning
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            *last = Some(Instant::now());
            log::warn!("{}", message());
        }
    }
}

/// Serves `listener` until `stop` turns true, then lets the open connections end their
/// request for at most [`SHUTDOWN_GRACE`].
pub(super) async fn serve(
    listener: TcpListener,
    context: ApiContext,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let shared = Arc::new(Shared {
        context,
        limits,
        connections: Arc::new(Semaphore::new(limits.max_connections)),
        refusing: Arc::new(Semaphore::new(MAX_REFUSING)),
        last_warning: Mutex::new(None),
    });
    loop {
        let accepted = tokio::select! {
            biased;
            () = stopped(&mut stop) => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                if !admit(stream, peer, &shared, &stop).await {
                    break;
                }
            }
            Err(e) => {
                shared.warn(|| format!("the HTTP API cannot accept a connection: {e}"));
                tokio::select! {
                    () = stopped(&mut stop) => break,
                    () = tokio::time::sleep(ACCEPT_PAUSE) => {}
                }
            }
        }
    }
    drop(listener);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, shared.connections.acquire_many(all))
        .await
        .is_err()
    {
        log::debug!("HTTP API: connections still open after the grace are dropped");
    }
    log::debug!("HTTP API stopped");
}

/// Serves a new connection, or refuses it with a 503 when the cap is reached. `false`
/// when the server stops meanwhile.
async fn admit(
    stream: TcpStream,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    stop: &watch::Receiver<bool>,
) -> bool {
    // Small answers and stream chunks go out at once.
    let _ = stream.set_nodelay(true);
    if let Ok(permit) = Arc::clone(&shared.connections).try_acquire_owned() {
        tokio::spawn(connection(
            stream,
            peer,
            Arc::clone(shared),
            permit,
            stop.clone(),
        ));
        return true;
    }
    shared.warn(|| {
        format!(
            "the HTTP API has {} connections open, the most allowed ([api] \
             max_connections): further ones are answered 503",
            shared.limits.max_connections
        )
    });
    let mut stop = stop.clone();
    let permit = tokio::select! {
        () = stopped(&mut stop) => return false,
        permit = Arc::clone(&shared.refusing).acquire_owned() => permit,
    };
    if let Ok(permit) = permit {
        tokio::spawn(refuse_busy(stream, Arc::clone(shared), permit));
    }
    true
}

/// Returns once the server is told to stop (or its [`super::ApiServer`] is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard the wait returns is dropped at once: it must not live across an await.
    let _ = stop.wait_for(|stop| *stop).await.map(|_| ());
}

fn builder(header_timeout: Duration) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .title_case_headers(true);
    builder
}

/// One connection under the cap: its requests until it closes, times out, or the server
/// stops.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
    mut stop: watch::Receiver<bool>,
) {
    let for_requests = Arc::clone(&shared);
    let service = service_fn(move |request| respond(request, Arc::clone(&for_requests), peer));
    let served = builder(shared.limits.header_timeout)
        .serve_connection(TokioIo::new(stream), service)
        // A WebSocket endpoint takes the connection over with `hyper::upgrade::on`.
        .with_upgrades();
    tokio::pin!(served);
    let result = tokio::select! {
        result = served.as_mut() => result,
        () = stopped(&mut stop) => {
            served.as_mut().graceful_shutdown();
            tokio::time::timeout(SHUTDOWN_GRACE, served.as_mut())
                .await
                .unwrap_or(Ok(()))
        }
    };
    if let Err(e) = result {
        log::debug!("HTTP API: the connection of {peer} ends: {e}");
    }
}

/// A connection beyond the cap: its request is answered 503 (in the error shape of its
/// path) and the connection closed, within [`REFUSAL_TIMEOUT`] for its head.
async fn refuse_busy(stream: TcpStream, shared: Arc<Shared>, _permit: OwnedSemaphorePermit) {
    let max = shared.limits.max_connections;
    let service = service_fn(move |request: Request<Incoming>| async move {
        let url = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let refusal = routes::refusal(
            &url,
            503,
            &format!(
                "the API has {max} connections open, the most it takes ([api] \
                 max_connections): try again shortly"
            ),
        );
        let mut reply = json_reply(&refusal, true);
        reply
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        Ok::<_, Infallible>(reply)
    });
    let mut builder = builder(REFUSAL_TIMEOUT);
    builder.keep_alive(false);
    let served = builder.serve_connection(TokioIo::new(stream), service);
    // Bounded as a whole: a client that does not read its answer is dropped too.
    let _ = tokio::time::timeout(REFUSAL_TIMEOUT * 2, served).await;
}

fn header_text(request: &hyper::http::request::Parts, name: HeaderName) -> Option<String> {
    request
        .headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// One request: its body read within the limits, the routes run on a route thread, the
/// answer (or a stream) returned.
async fn respond(
    request: Request<Incoming>,
    shared: Arc<Shared>,
    peer: SocketAddr,
) -> Result<Response<ApiBody>, Infallible> {
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_owned();
    let url = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let authorization = header_text(&parts, header::AUTHORIZATION);
    let content_type = header_text(&parts, header::CONTENT_TYPE);
    let origin = header_text(&parts, header::ORIGIN);
    // An absolute request URI's authority stands for the `Host` header (RFC 9112 3.2.2).
    let host = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| header_text(&parts, header::HOST));
    let path = url
        .split_once('?')
        .map_or(url.as_str(), |(p, _)| p)
        .to_owned();
    // The audio limit (megabytes) only for a caller who may play: anybody else is
    // answered 401 after at most the JSON limit was read.
    let limit = if path == routes::PLAY_PATH
        && routes::may_enter(&shared.context, authorization.as_deref())
    {
        shared.limits.audio
    } else {
        shared.limits.json
    };
    let body = read_body(body, limit, shared.limits.body_timeout).await;
    // A body not read to its end: the connection cannot carry another request.
    let close = !matches!(body, RequestBody::Read(_));
    let for_route = Arc::clone(&shared);
    let routed = tokio::task::spawn_blocking(move || {
        routes::handle(
            &for_route.context,
            ApiRequest {
                method: &method,
                url: &url,
                authorization: authorization.as_deref(),
                content_type: content_type.as_deref(),
                origin: origin.as_deref(),
                host: host.as_deref(),
                body,
            },
        )
    })
    .await;
    let response = routed.unwrap_or_else(|e| {
        log::error!("HTTP API: the route of {} failed: {e}", parts.uri);
        routes::refusal(&path, 500, "the request failed inside the API")
    });
    log::debug!("{} {} -> {}", parts.method, parts.uri, response.status);
    if response.status == 200 && path == sse::PATH {
        return Ok(events(&shared, peer));
    }
    if response.status == 200 && path == audio_stream::PATH {
        return Ok(audio(&shared, peer));
    }
    Ok(json_reply(&response, close))
}

/// Reads a body of at most `limit` bytes within `timeout`. A `Content-Length` beyond the
/// limit is [`RequestBody::TooLarge`] before a byte is read or allocated; a chunked body
/// is counted as it arrives and abandoned at the first byte too many.
async fn read_body(mut body: Incoming, limit: usize, timeout: Duration) -> RequestBody {
    let announced = body.size_hint().exact();
    if announced.is_some_and(|n| usize::try_from(n).map_or(true, |n| n > limit)) {
        return RequestBody::TooLarge { limit };
    }
    let capacity = announced.map_or(0, |n| usize::try_from(n).unwrap_or(0).min(limit));
    let read = async {
        let mut bytes = Vec::with_capacity(capacity);
        while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            let frame = match frame {
                Ok(frame) => frame,
                Err(e) => return RequestBody::Unreadable(e.to_string()),
            };
            if let Ok(data) = frame.into_data() {
                if bytes.len().saturating_add(data.len()) > limit {
                    return RequestBody::TooLarge { limit };
                }
                bytes.extend_from_slice(&data);
            }
        }
        RequestBody::Read(bytes)
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(RequestBody::TimedOut {
            seconds: timeout.as_secs(),
        })
}

/// `response` as JSON; `close` asks the client not to send another request on this
/// connection (its last body was not read to the end).
fn json_reply(response: &ApiResponse, close: bool) -> Response<ApiBody> {
    let (body, content_type) = match &response.text {
        Some(text) => (
            Bytes::from(text.clone()),
            super::monitoring::METRICS_CONTENT_TYPE,
        ),
        None => (Bytes::from(response.body.to_string()), "application/json"),
    };
    let mut reply = Response::new(ApiBody::Full(Some(body)));
    *reply.status_mut() =
        StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = reply.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(allow) = response.allow {
        headers.insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    if response.challenge {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if close || response.status == 413 {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    reply
}

/// `GET /events`, accepted by the route: the stream, or 503.
fn events(shared: &Shared, peer: SocketAddr) -> Response<ApiBody> {
    match sse::subscribe(shared.context.bot.events(), peer.to_string()) {
        Ok(stream) => {
            let mut reply = Response::new(ApiBody::Events(stream));
            for (name, value) in sse::HEADERS {
                reply
                    .headers_mut()
                    .insert(name, HeaderValue::from_static(value));
            }
            reply
        }
        Err(e) => json_reply(&routes::refusal(sse::PATH, 503, &sse::refusal(&e)), false),
    }
}

/// `GET /calls/current/audio`, accepted by the route: the stream, or 409/503 (the call may
/// have ended since the route looked).
fn audio(shared: &Shared, peer: SocketAddr) -> Response<ApiBody> {
    match audio_stream::start(shared.context.bot.call_audio(), peer.to_string()) {
        Ok(stream) => {
            let headers = audio_stream::headers(stream.format());
            let mut reply = Response::new(ApiBody::Audio(stream));
            for (name, value) in headers {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    reply.headers_mut().insert(name, value);
                }
            }
            reply
        }
        Err(refusal) => {
            let message = format!("GET {}: {refusal}", audio_stream::PATH);
            json_reply(
                &routes::refusal(audio_stream::PATH, refusal.status(), &message),
                false,
            )
        }
    }
}

/// A response body: a JSON answer, or a stream.
#[derive(Debug)]
enum ApiBody {
    /// The whole body (taken when sent).
    Full(Option<Bytes>),
    /// `GET /events`.
    Events(sse::EventStream),
    /// `GET /calls/current/audio`.
    Audio(audio_stream::AudioStream),
}

impl Body for ApiBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            ApiBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            ApiBody::Events(stream) => stream
                .poll_chunk(cx)
                .map(|chunk| chunk.map(|b| Ok(Frame::data(b)))),
            ApiBody::Audio(stream) => stream
                .poll_chunk(cx)
                .map(|chunk| chunk.map(|b| b.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, ApiBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ApiBody::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            ApiBody::Full(None) => SizeHint::with_exact(0),
            ApiBody::Events(_) | ApiBody::Audio(_) => SizeHint::default(),
        }
    }
}
