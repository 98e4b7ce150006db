//! What one client, or a web page in a browser on the host, can do to the running bot's
//! HTTP API before any token check, each against a real `sim7600 voice-bot` on loopback:
//! absurd `Content-Length`s, bodies sent slowly, hundreds of idle connections, a 100 MB
//! header line, idle event subscribers, bodies of the wrong type, foreign `Origin` and
//! `Host` (DNS rebinding), a JSON key named twice. The API must answer each with a clear
//! refusal and go on serving; the bot must go on running. Every loop here is bounded in
//! count and time.

use crate::support::api::*;
// Raw on purpose: these requests are what no HTTP client sends (lengths no body
// follows, heads and bodies cut short, idle connections), so they are written as bytes.
use crate::support::http::raw_exchange;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hil_tests::{Rig, SimConfig};

/// A request for `/status` that names this API as its host.
fn status_request(addr: SocketAddr) -> String {
    format!("GET /status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
}

/// `GET /status` answers 200 within `bound` (the API is alive and not starved).
fn status_answers_within(bot: &Bot, bound: Duration) {
    let asked = Instant::now();
    let (status, _, body) = raw_exchange(bot.addr, status_request(bot.addr).as_bytes()).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        asked.elapsed() < bound,
        "/status took {:?}; log:\n{}",
        asked.elapsed(),
        bot.log_text()
    );
}

/// Waits (bounded) until `/status` answers 200 again.
fn wait_status_200(bot: &Bot, bound: Duration) {
    let started = Instant::now();
    loop {
        if let Ok((200, _, _)) = raw_exchange(bot.addr, status_request(bot.addr).as_bytes()) {
            return;
        }
        assert!(
            started.elapsed() < bound,
            "the API did not answer 200 again within {bound:?}; log:\n{}",
            bot.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads what the server sends until it closes (at most `bound`).
fn read_to_close(stream: &mut TcpStream, bound: Duration) -> String {
    stream.set_read_timeout(Some(bound)).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

fn queued(rig: &Rig) -> usize {
    std::fs::read_dir(queue_dir(rig).join("active"))
        .map(|d| d.count())
        .unwrap_or(0)
}

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(
    an_absurd_content_length_is_refused_and_the_bot_lives_on,
    a_web_page_cannot_send_sms_by_type_origin_or_a_rebound_name,
);

fn an_absurd_content_length_is_refused_and_the_bot_lives_on() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let config = bot_config(&mut rig, "");
    let mut bot = Bot::start(&config, free_addr(), &rig.dir().join("bot.log"));
    let before = bot.rss_kib("VmHWM");
    // Twice each: one such request used to kill a worker for good, two the whole API; a
    // length of 10^12 used to abort the bot.
    for _ in 0..2 {
        let raw = format!(
            "POST /sms HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n",
            bot.addr
        );
        let (status, _, body) = raw_exchange(bot.addr, raw.as_bytes()).unwrap();
        assert_eq!(status, 413, "{body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["field"], "body");

        // A length beyond what HTTP/1.1 parsing can hold is refused by the parser itself,
        // before the routes: 431, without a body.
        let raw = format!(
            "POST /sms HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 18446744073709551615\r\n\r\n",
            bot.addr
        );
        let (status, head, _) = raw_exchange(bot.addr, raw.as_bytes()).unwrap();
        assert_eq!(status, 431, "{head}");
    }
    assert!(
        bot.child.as_mut().unwrap().try_wait().unwrap().is_none(),
        "the bot runs"
    );
    status_answers_within(&bot, Duration::from_secs(2));
    let (status, answer) = bot.http(
        "POST",
        "/sms",
        Some(r#"{"to": "+491721234567", "text": "still here"}"#),
    );
    assert_eq!(status, 202, "{answer}");
    let after = bot.rss_kib("VmHWM");
    assert!(
        after < before + 8 * 1024,
        "peak RSS grew from {before} to {after} KiB"
    );
    assert!(bot.terminate().success());
}

#[test]
fn slow_bodies_and_held_413s_do_not_freeze_the_api_and_are_closed_at_the_body_timeout() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let config = bot_config(&mut rig, "[api]\nbody_timeout_s = 2\n");
    let bot = Bot::start(&config, free_addr(), &rig.dir().join("bot.log"));
    // Eight bodies that stop after a few bytes (four times the old worker count)...
    let mut slow: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = TcpStream::connect(bot.addr).unwrap();
            let head = format!(
                "POST /sms HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"to\"",
                bot.addr
            );
            s.write_all(head.as_bytes()).unwrap();
            s
        })
        .collect();
    // ...and two clients that got a 413 and keep their connection.
    let mut held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(bot.addr).unwrap();
            let head = format!(
                "POST /sms HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n",
                bot.addr
            );
            s.write_all(head.as_bytes()).unwrap();
            s
        })
        .collect();
    let started = Instant::now();
    for _ in 0..5 {
        status_answers_within(&bot, Duration::from_secs(1));
        std::thread::sleep(Duration::from_millis(100));
    }
    for s in &mut held {
        let answer = read_to_close(s, Duration::from_secs(5));
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("Connection: close"), "{answer}");
    }
    for s in &mut slow {
        let answer = read_to_close(s, Duration::from_secs(10));
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("body_timeout_s"), "{answer}");
    }
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(6),
        "the slow bodies were closed after {waited:?}"
    );
    assert_eq!(queued(&rig), 0);
    assert!(bot.terminate().success());
}

#[test]
fn hundreds_of_idle_connections_are_refused_or_queued_never_the_end_of_the_api() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let config = bot_config(&mut rig, "[api]\nheader_timeout_s = 3\n");
    let addr = free_addr();
    let log = rig.dir().join("bot.log");
    // Under an open-file limit far below 500: the API's cap shrinks to fit it.
    let file = std::fs::File::create(&log).unwrap();
    let child = Command::new("prlimit")
        .arg("--nofile=200:200")
        .arg(hil_tests::sim7600_bin().unwrap())
        .arg("--config")
        .arg(&config)
        .arg("voice-bot")
        .arg("--listen")
        .arg(addr.to_string())
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("prlimit (util-linux) runs the bot under a low open-file limit: apt-get install util-linux");
    let mut bot = Bot {
        child: Some(child),
        addr,
        log,
        authorization: None,
    };
    bot.wait_running();
    assert!(
        bot.log_text().contains("does not fit the open-file limit"),
        "the shrunk cap is said; log:\n{}",
        bot.log_text()
    );

    let mut idle = Vec::new();
    let mut refused = 0;
    for _ in 0..500 {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(s) => idle.push(s),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => refused += 1,
            // Waiting in the kernel's queue past the timeout: not a refusal.
            Err(_) => {}
        }
    }
    assert_eq!(refused, 0, "no connection is refused while the bot listens");
    assert!(idle.len() >= 100, "{} connections open", idle.len());
    // Beyond the cap, a request is answered 503 (or waits its turn).
    let mut busy = TcpStream::connect(addr).unwrap();
    busy.write_all(status_request(addr).as_bytes()).unwrap();
    let answer = read_to_close(&mut busy, Duration::from_secs(10));
    assert!(
        answer.is_empty()
            || answer.starts_with("HTTP/1.1 503")
            || answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );
    if answer.starts_with("HTTP/1.1 503") {
        assert!(answer.contains("max_connections"), "{answer}");
    }
    drop(idle);
    drop(busy);
    // They leave: the accept loop is still there.
    wait_status_200(&bot, Duration::from_secs(10));
    for _ in 0..3 {
        status_answers_within(&bot, Duration::from_secs(1));
    }
    assert!(bot.terminate().success());
}

#[test]
fn a_100_mb_header_line_is_431_without_growing_the_bot() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let config = bot_config(&mut rig, "");
    let bot = Bot::start(&config, free_addr(), &rig.dir().join("bot.log"));
    let before = bot.rss_kib("VmHWM");
    let mut stream = TcpStream::connect(bot.addr).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET /status HTTP/1.1\r\nX-Padding: ")
        .unwrap();
    let block = vec![b'a'; 1024 * 1024];
    let mut sent = 0usize;
    while sent < 100 * 1024 * 1024 && stream.write_all(&block).is_ok() {
        sent += block.len();
    }
    let answer = read_to_close(&mut stream, Duration::from_secs(10));
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "{answer:?} after {sent} bytes"
    );
    assert!(sent < 100 * 1024 * 1024, "the bot stopped reading early");
    let after = bot.rss_kib("VmHWM");
    assert!(
        after < before + 4 * 1024,
        "peak RSS grew from {before} to {after} KiB"
    );
    status_answers_within(&bot, Duration::from_secs(2));
    assert!(bot.terminate().success());
}

/// Opens `GET /events` and reads its head and opening comment; the connection.
fn subscribe(addr: SocketAddr) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(format!("GET /events HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 2048];
    while !(got.contains(": stream open") || got.contains("\r\n\r\n{")) {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "{got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    (s, got)
}

#[test]
fn idle_event_subscribers_do_not_lock_others_out_and_leave_with_their_client() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let config = bot_config(&mut rig, "");
    let bot = Bot::start(&config, free_addr(), &rig.dir().join("bot.log"));
    // Eight idle subscribers used to be all there was room for.
    let mut idle: Vec<TcpStream> = (0..8).map(|_| subscribe(bot.addr).0).collect();
    let (_ninth, head) = subscribe(bot.addr);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("Content-Type: text/event-stream"), "{head}");
    // Up to the policy's limit of 64 streams...
    for _ in 0..55 {
        idle.push(subscribe(bot.addr).0);
    }
    let (mut over, answer) = subscribe(bot.addr);
    let rest = read_to_close(&mut over, Duration::from_secs(5));
    let answer = format!("{answer}{rest}");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("64 sse subscribers"), "{answer}");
    status_answers_within(&bot, Duration::from_secs(1));
    // ...and the places come back as soon as their clients are gone.
    drop(idle);
    let started = Instant::now();
    loop {
        let (_s, head) = subscribe(bot.addr);
        if head.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "gone subscribers still hold their places: {head}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(bot.terminate().success());
}

fn a_web_page_cannot_send_sms_by_type_origin_or_a_rebound_name() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let config = bot_config(&mut rig, "");
    let bot = Bot::start(&config, free_addr(), &rig.dir().join("bot.log"));
    let body = r#"{"to": "+491721234567", "text": "from a web page"}"#;
    let post = |host: &str, extra: &str| {
        let raw = format!(
            "POST /sms HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let (status, _, answer) = raw_exchange(bot.addr, raw.as_bytes()).unwrap();
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        (status, answer)
    };
    let own = bot.addr.to_string();
    // A form post or a plain-text fetch, which a page may send without asking first.
    let (status, answer) = post(&own, "Content-Type: text/plain;charset=UTF-8\r\n");
    assert_eq!(
        (status, &answer["field"]),
        (415, &"content-type".into()),
        "{answer}"
    );
    let (status, answer) = post(&own, "Content-Type: application/x-www-form-urlencoded\r\n");
    assert_eq!(status, 415, "{answer}");
    // A page of another site.
    let (status, answer) = post(
        &own,
        "Content-Type: application/json\r\nOrigin: https://evil.example\r\n",
    );
    assert_eq!(
        (status, &answer["field"]),
        (403, &"origin".into()),
        "{answer}"
    );
    // A page whose own name was made to resolve to 127.0.0.1 (DNS rebinding).
    let rebound = format!("rebind.evil.example:{}", bot.addr.port());
    let (status, answer) = post(&rebound, "Content-Type: application/json\r\n");
    assert_eq!(
        (status, &answer["field"]),
        (421, &"host".into()),
        "{answer}"
    );
    assert_eq!(queued(&rig), 0, "nothing was queued");
    // The program on the host is served.
    let (status, answer) = post(
        &format!("localhost:{}", bot.addr.port()),
        "Content-Type: application/json\r\n",
    );
    assert_eq!(status, 202, "{answer}");
    assert!(bot.terminate().success());
}

#[test]
fn a_json_key_named_twice_is_refused_naming_it() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let config = bot_config(&mut rig, "");
    let bot = Bot::start(&config, free_addr(), &rig.dir().join("bot.log"));
    let (status, answer) = bot.http(
        "POST",
        "/sms",
        Some(r#"{"to": "+491721234567", "text": "hi", "to": "+19005550100"}"#),
    );
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["field"], "to");
    assert!(
        answer["error"].as_str().unwrap().contains("\"to\" twice"),
        "{answer}"
    );
    assert_eq!(queued(&rig), 0);
    assert!(bot.terminate().success());
}
