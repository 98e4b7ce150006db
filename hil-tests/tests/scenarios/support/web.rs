//! Small HTTP servers standing in for the web services the bot calls: a receiver (of
//! webhooks, status callbacks) that answers every request 204 and hands it over, and a
//! TwiML web app. Each listens on a free loopback port and serves on a thread of its own
//! until the test process ends.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;

/// One request a server got.
#[derive(Debug, Clone)]
pub struct Received {
    /// `POST`, `GET`, ...
    pub method: String,
    /// The request's path.
    pub path: String,
    /// The head's fields, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body (as long as its `Content-Length` says).
    pub body: String,
}

impl Received {
    /// The value of the field `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request from `tcp`; `None` when the connection ends before a whole one.
fn read_request(tcp: &TcpStream) -> Option<Received> {
    let mut reader = BufReader::new(tcp);
    let mut first = String::new();
    reader.read_line(&mut first).ok()?;
    let mut words = first.split_whitespace();
    let (method, path) = (words.next()?.to_owned(), words.next()?.to_owned());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut received = Received {
        method,
        path,
        headers,
        body: String::new(),
    };
    let length = received
        .header("content-length")
        .map_or(Some(0), |v| v.parse().ok())?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    received.body = String::from_utf8(body).ok()?;
    Some(received)
}

/// A receiver: its URL (`path` on the server), and every request it gets, answered 204.
pub fn receiver(path: &str) -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}{path}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(mut tcp) = tcp else { return };
            let Some(received) = read_request(&tcp) else {
                continue;
            };
            let _ = tcp.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
            if tx.send(received).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

/// A tiny TwiML web app: every POST is answered with `twiml` and its form is handed over
/// (path and body); a GET gets `wav` (for `<Play>`). `twiml` is made from the app's own
/// address, which is returned.
pub fn twiml_app(
    twiml: impl FnOnce(&str) -> String,
    wav: Vec<u8>,
) -> (String, mpsc::Receiver<(String, String)>) {
    let web = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", web.local_addr().unwrap());
    let twiml = twiml(&url);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for tcp in web.incoming() {
            let Ok(mut tcp) = tcp else { return };
            let Some(request) = read_request(&tcp) else {
                continue;
            };
            let (kind, answer) = if request.method == "POST" {
                let _ = tx.send((request.path, request.body));
                ("text/xml", twiml.as_bytes())
            } else {
                ("audio/wav", wav.as_slice())
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                answer.len()
            );
            let _ = tcp.write_all(head.as_bytes());
            let _ = tcp.write_all(answer);
        }
    });
    (url, rx)
}
