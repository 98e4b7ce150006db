//! The rig's one HTTP client, for the bot's API and anything else the scenarios and the
//! benchmarks ask over HTTP: ureq, a fresh connection per request (none is kept, so a bot
//! restarted on the same port is never asked on a connection its predecessor left), every
//! status an answer (a 4xx is what many scenarios want to see), the connection and each
//! write bounded by [`IO_TIMEOUT`], and each read too unless the request says otherwise
//! (an event stream that may be quiet for long). Scenarios that must send bytes no client would (a malformed
//! head, a body that stops halfway) write them to a `TcpStream` themselves.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

pub use ureq::http::HeaderMap;

use crate::error::RigError;

/// The longest a connection, or any one read or write on it, may take.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest body [`Request::send`] reads (a stream is read by its caller).
pub const MAX_BODY: u64 = 16 * 1024 * 1024;

static AGENT: LazyLock<ureq::Agent> = LazyLock::new(|| {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_idle_connections(0)
        .max_idle_connections_per_host(0)
        .timeout_connect(Some(IO_TIMEOUT))
        .timeout_per_read(Some(IO_TIMEOUT))
        .timeout_per_write(Some(IO_TIMEOUT))
        .build()
        .new_agent()
});

/// Runs `request` on the agent with `read_timeout` for each read.
fn dispatch<S: ureq::AsSendBody>(
    request: Result<ureq::http::Request<S>, ureq::http::Error>,
    read_timeout: Option<Duration>,
) -> Result<ureq::http::Response<ureq::Body>, String> {
    let request = request.map_err(|e| e.to_string())?;
    let request = AGENT
        .configure_request(request)
        .timeout_per_read(read_timeout)
        .build();
    AGENT.run(request).map_err(|e| e.to_string())
}

/// One request to `http://ADDR/PATH`.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    method: &'a str,
    addr: SocketAddr,
    path: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    body: Option<&'a [u8]>,
    read_timeout: Option<Duration>,
}

/// An answer read to its end.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The head's fields.
    pub headers: HeaderMap,
    /// The body (invalid UTF-8 replaced).
    pub body: String,
}

/// An answer whose body is read as it comes (an event stream, live audio): `Read` ends at
/// the body's proper end and fails on a connection cut before it.
pub struct Stream {
    /// The status code.
    pub status: u16,
    /// The head's fields.
    pub headers: HeaderMap,
    body: ureq::BodyReader<'static>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.body.read(buf)
    }
}

impl Answer {
    /// The field `name` of the head, if it is there and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Stream {
    /// The field `name` of the head, if it is there and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl<'a> Request<'a> {
    /// `METHOD http://ADDR/PATH` without a body.
    pub fn new(method: &'a str, addr: SocketAddr, path: &'a str) -> Request<'a> {
        Request {
            method,
            addr,
            path,
            headers: Vec::new(),
            body: None,
            read_timeout: Some(IO_TIMEOUT),
        }
    }

    /// Adds a field to the head.
    pub fn header(mut self, name: &'a str, value: &'a str) -> Request<'a> {
        self.headers.push((name, value));
        self
    }

    /// Sends `body` (with its `Content-Length`, also when it is empty).
    pub fn body(mut self, body: &'a [u8]) -> Request<'a> {
        self.body = Some(body);
        self
    }

    /// How long one read may wait ([`IO_TIMEOUT`] unless said here; `None`: for ever).
    pub fn read_timeout(mut self, timeout: Option<Duration>) -> Request<'a> {
        self.read_timeout = timeout;
        self
    }

    fn what(&self) -> String {
        format!("{} http://{}{}", self.method, self.addr, self.path)
    }

    fn run(self) -> Result<ureq::http::Response<ureq::Body>, RigError> {
        let mut request = ureq::http::Request::builder()
            .method(self.method)
            .uri(format!("http://{}{}", self.addr, self.path));
        for (name, value) in &self.headers {
            request = request.header(*name, *value);
        }
        let response = match self.body {
            Some(body) => dispatch(request.body(body), self.read_timeout),
            None => dispatch(request.body(()), self.read_timeout),
        };
        response.map_err(|problem| RigError::Http {
            request: self.what(),
            problem,
        })
    }

    /// Sends the request and reads the answer to its end.
    pub fn send(self) -> Result<Answer, RigError> {
        let what = self.what();
        let mut response = self.run()?;
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .lossy_utf8(true)
            .read_to_string()
            .map_err(|e| RigError::Http {
                request: what,
                problem: format!("reading the body: {e}"),
            })?;
        let (head, _) = response.into_parts();
        Ok(Answer {
            status: head.status.as_u16(),
            headers: head.headers,
            body,
        })
    }

    /// Sends the request and returns once the head is in; the body is read as it comes.
    pub fn open(self) -> Result<Stream, RigError> {
        let (head, body) = self.run()?.into_parts();
        Ok(Stream {
            status: head.status.as_u16(),
            headers: head.headers,
            body: body.into_reader(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// A server on a free port that answers one connection with `answer` and hands over
    /// what it was sent (head and body).
    fn serve_once(answer: &'static [u8]) -> (SocketAddr, std::sync::mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(tcp.try_clone().unwrap());
            let mut seen = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                seen.push_str(&line);
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            seen.push_str(&String::from_utf8_lossy(&body));
            (&tcp).write_all(answer).unwrap();
            tx.send(seen).unwrap();
        });
        (addr, rx)
    }

    #[test]
    fn a_4xx_is_an_answer_with_its_head_and_body_and_the_request_carries_its_body() {
        let (addr, seen) = serve_once(
            b"HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"a\": \"b\"}\n",
        );
        let answer = Request::new("POST", addr, "/sms")
            .header("Content-Type", "application/json")
            .body(b"{}")
            .send()
            .unwrap();
        assert_eq!(answer.status, 409);
        assert_eq!(answer.header("content-type"), Some("application/json"));
        assert_eq!(answer.body, "{\"a\": \"b\"}\n");
        let seen = seen.recv().unwrap();
        assert!(seen.starts_with("POST /sms HTTP/1.1\r\n"), "{seen}");
        assert!(
            seen.to_ascii_lowercase().contains("content-length: 2\r\n"),
            "{seen}"
        );
        assert!(seen.ends_with("\r\n\r\n{}"), "{seen}");
    }

    #[test]
    fn a_stream_ends_at_its_last_chunk_and_fails_when_cut_before_it() {
        let (addr, _) = serve_once(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        );
        let mut stream = Request::new("GET", addr, "/live").open().unwrap();
        assert_eq!(stream.status, 200);
        let mut body = String::new();
        stream.read_to_string(&mut body).unwrap();
        assert_eq!(body, "abcde");

        let (addr, _) =
            serve_once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
        let mut stream = Request::new("GET", addr, "/live").open().unwrap();
        let mut body = Vec::new();
        assert!(stream.read_to_end(&mut body).is_err(), "{body:?}");
    }

    #[test]
    fn nothing_listening_is_an_error_naming_the_request() {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let err = Request::new("GET", addr, "/status").send().unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("GET http://{addr}/status")),
            "{err}"
        );
    }
}
