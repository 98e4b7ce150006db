//! Binding the API beyond loopback needs a bearer token: without one the bot refuses to
//! start (configuration error, smstools untouched); with one, every request must carry it.

use crate::support::api::*;
use crate::support::http;

use hil_tests::{Rig, SimConfig};

const TOKEN: &str = "k3y-of-the-voice-bot-api";

#[test]
fn a_public_address_without_a_token_is_refused_before_smstools_is_touched() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let smsd_pid = start_smsd(&mut rig);

    // In the config file...
    let config = bot_config(&mut rig, "[api]\nlisten = \"0.0.0.0:18088\"\n");
    let out = sim7600(&config, &["voice-bot"]);
    assert_eq!(out.status.code(), Some(78), "configuration error");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("api.token"), "{stderr}");

    // ...and through --listen, which overrides a loopback config.
    let config = bot_config(&mut rig, "");
    let out = sim7600(&config, &["voice-bot", "--listen", "0.0.0.0:18088"]);
    assert_eq!(out.status.code(), Some(78), "configuration error");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("token: required"), "{stderr}");

    // smsd was never stopped.
    assert_eq!(rig.smsd().unwrap().pid(), Some(smsd_pid));
    assert!(markers(&rig).is_empty());
}

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(with_a_token_every_request_must_carry_it,);

fn with_a_token_every_request_must_carry_it() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let config = bot_config(&mut rig, &format!("[api]\ntoken = \"{TOKEN}\"\n"));
    let bearer = format!("Bearer {TOKEN}");
    let bot = Bot::start_authorized(
        &config,
        free_addr(),
        &rig.dir().join("bot.log"),
        Some(bearer.clone()),
    );
    let addr = bot.addr;

    let body = r#"{"to": "+491721234567", "text": "hi"}"#;
    for authorization in [
        None,
        Some("Bearer not-the-token-at-all"),
        Some("Basic eDp5"),
    ] {
        let (status, answer) = http::json(addr, "POST", "/sms", Some(body), authorization).unwrap();
        assert_eq!(status, 401, "{authorization:?}: {answer}");
        assert_eq!(answer["field"], "authorization");
    }
    let (status, answer) = http::json(addr, "POST", "/send", Some(body), None).unwrap();
    assert_eq!(
        (status, &answer["success"]),
        (401, &serde_json::Value::Bool(false))
    );
    assert_eq!(
        std::fs::read_dir(queue_dir(&rig).join("active"))
            .unwrap()
            .count(),
        0,
        "nothing queued without the token"
    );
    let (status, answer) = http::json(addr, "POST", "/sms", Some(body), Some(&bearer)).unwrap();
    assert_eq!(status, 202, "{answer}");
    assert!(bot.terminate().success());
}
