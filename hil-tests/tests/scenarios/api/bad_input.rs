//! The API's bad-input table against a running `sim7600 voice-bot` on the simulator:
//! every malformed request gets its status and a JSON error naming the field, and none of
//! them puts anything in the queue or on the air.

use crate::support::api::*;

use hil_tests::{Rig, SimConfig};

#[test]
fn every_bad_request_gets_its_status_and_names_the_field() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let config = bot_config(&mut rig, "");
    let bot = Bot::start(&config, free_addr(), &rig.dir().join("bot.log"));

    let too_many_parts = format!(
        r#"{{"to": "+491721234567", "text": "{}"}}"#,
        "x".repeat(1531)
    );
    let too_many_ucs2 = format!(
        r#"{{"to": "+491721234567", "text": "{}"}}"#,
        "Ж".repeat(671)
    );
    // (method, path, body, status, field named in the error)
    let table: Vec<(&str, &str, &str, u16, Option<&str>)> = vec![
        (
            "POST",
            "/sms",
            r#"{"to": "+491721234567", "text": "#,
            400,
            Some("body"),
        ),
        ("POST", "/sms", "", 400, Some("body")),
        (
            "POST",
            "/sms",
            "to=+491721234567&text=hi",
            400,
            Some("body"),
        ),
        (
            "POST",
            "/sms",
            r#"["+491721234567", "hi"]"#,
            400,
            Some("body"),
        ),
        ("POST", "/sms", r#"{"text": "hi"}"#, 400, Some("to")),
        (
            "POST",
            "/sms",
            r#"{"to": "+491721234567"}"#,
            400,
            Some("text"),
        ),
        (
            "POST",
            "/sms",
            r#"{"to": "+491721234567", "text": "hi", "flash": true}"#,
            400,
            Some("flash"),
        ),
        (
            "POST",
            "/sms",
            r#"{"to": 491721234567, "text": "hi"}"#,
            400,
            Some("to"),
        ),
        (
            "POST",
            "/sms",
            r#"{"to": "+491721234567", "text": null}"#,
            400,
            Some("text"),
        ),
        (
            "POST",
            "/sms",
            r#"{"to": "+491721234567", "text": ""}"#,
            400,
            Some("text"),
        ),
        ("POST", "/sms", &too_many_parts, 400, Some("text")),
        ("POST", "/sms", &too_many_ucs2, 400, Some("text")),
        (
            "POST",
            "/sms",
            r#"{"to": "mum", "text": "hi"}"#,
            400,
            Some("to"),
        ),
        (
            "POST",
            "/sms",
            r#"{"to": "+49 172 1234567", "text": "hi"}"#,
            400,
            Some("to"),
        ),
        (
            "POST",
            "/sms",
            r#"{"to": "+", "text": "hi"}"#,
            400,
            Some("to"),
        ),
        (
            "POST",
            "/sms",
            r#"{"to": "+123456789012345678901", "text": "hi"}"#,
            400,
            Some("to"),
        ),
        ("GET", "/sms/not..an/id", "", 400, Some("id")),
        ("GET", "/sms/1764000000000-1-0001", "", 404, Some("id")),
        ("GET", "/calls?limit=0", "", 400, Some("limit")),
        ("GET", "/calls?limit=1001", "", 400, Some("limit")),
        ("GET", "/calls?order=asc", "", 400, Some("order")),
        ("GET", "/sms", "", 405, None),
        ("PUT", "/status", "", 405, None),
        ("GET", "/admin", "", 404, None),
    ];
    for (method, path, body, status, field) in &table {
        let (got, answer) = bot.http(method, path, Some(body));
        assert_eq!(got, *status, "{method} {path} {body}: {answer}");
        assert_eq!(
            answer["field"].as_str(),
            *field,
            "{method} {path} {body}: {answer}"
        );
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(
            error.len() > 10,
            "{method} {path}: the error {error:?} says too little"
        );
    }

    // The drop-in paths answer in the unified API's shape.
    for (body, error_words) in [
        (r#"{"to": "+491721234567"}"#, "\"message\" is missing"),
        (
            r#"{"to": "0049-172", "message": "hi"}"#,
            "'-' at position 4",
        ),
        (
            r#"{"to": "+491721234567", "message": ""}"#,
            "the text is empty",
        ),
    ] {
        let (got, answer) = bot.http("POST", "/send", Some(body));
        assert_eq!(got, 400, "{body}: {answer}");
        assert_eq!(answer["success"], false, "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(error_words),
            "{answer}"
        );
    }
    let (got, answer) = bot.http("GET", "/pi_send_message", None);
    assert_eq!(
        (got, &answer["success"]),
        (405, &serde_json::Value::Bool(false))
    );

    // A body beyond the 16 KiB limit: 413, whatever it holds.
    let huge = format!(
        r#"{{"to": "+491721234567", "text": "{}"}}"#,
        "x".repeat(17 * 1024)
    );
    let (got, answer) = bot.http("POST", "/sms", Some(&huge));
    assert_eq!(got, 413, "{answer}");
    assert_eq!(answer["field"], "body");
    // The method check comes with an Allow header.
    let answer = hil_tests::http::Request::new("DELETE", bot.addr, "/sms")
        .send()
        .unwrap();
    assert_eq!(answer.status, 405);
    let allow = answer.header("allow");
    assert!(allow.is_some_and(|a| a.starts_with("POST")), "{answer:?}");

    assert!(table.len() >= 15, "the table has {} cases", table.len());
    let queued = std::fs::read_dir(queue_dir(&rig).join("active"))
        .unwrap()
        .count();
    assert_eq!(queued, 0, "a refused request left something in the queue");
    assert!(rig.modem().state().unwrap().modem.sent_parts.is_empty());
    assert!(bot.terminate().success());
}
