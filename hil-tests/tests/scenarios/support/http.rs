//! Every request the scenarios send goes through the rig's one HTTP client
//! ([`hil_tests::http`], ureq). The bot's API is asked as a program on the host asks it:
//! a `Content-Type` and a `Content-Length` on every request (an empty body too), an
//! `Authorization` where the bot wants one. What a scenario gets back is the status and
//! the body's JSON (a body that is not JSON: its text as a JSON string).
//!
//! [`raw_exchange`] is the exception, on purpose: the scenarios that send what no client
//! would (absurd lengths, heads and bodies cut short, a method without its body) write
//! those bytes themselves, so that the bot sees exactly them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use hil_tests::RigError;
use hil_tests::http::{Answer, Request};
use serde_json::Value;

/// `127.0.0.1:port`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The body's JSON, or its text as a JSON string.
pub fn json_of(answer: &Answer) -> Value {
    serde_json::from_str(&answer.body).unwrap_or_else(|_| Value::String(answer.body.clone()))
}

/// `METHOD path` with a body of `content_type` (and `Authorization: authorization`); the
/// status and the answer's JSON.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
    authorization: Option<&str>,
) -> Result<(u16, Value), RigError> {
    let mut request = Request::new(method, addr, path)
        .header("Content-Type", content_type)
        .body(body);
    if let Some(authorization) = authorization {
        request = request.header("Authorization", authorization);
    }
    let answer = request.send()?;
    Ok((answer.status, json_of(&answer)))
}

/// `METHOD path` with a JSON body (none: an empty one); the status and the answer's JSON.
pub fn json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    authorization: Option<&str>,
) -> Result<(u16, Value), RigError> {
    let body = body.unwrap_or("").as_bytes();
    request(addr, method, path, "application/json", body, authorization)
}

/// `raw`, bytes no client would send, written as they are on a fresh connection; the
/// answer's status, head and body text (a chunked body joined), read until the server
/// closes (at most 10 s of silence).
pub fn raw_exchange(addr: SocketAddr, raw: &[u8]) -> std::io::Result<(u16, String, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(raw)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((status, head.to_owned(), body))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}
