//! SMS through the API reach the (simulated) network as sent: every alphabet, a long text
//! in concatenated parts, the unified API's drop-in paths, and the option that sends a long
//! text as separate single messages.

use crate::support::api::*;

use std::time::Duration;

use hil_tests::{Rig, SimConfig};

const TO: &str = "+491721234567";
const SENT_WITHIN: Duration = Duration::from_secs(20);

fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(
    texts_in_every_alphabet_arrive_as_sent_with_their_encoding_and_parts,
    the_unified_api_paths_queue_and_send_with_its_response_shape,
    with_separate_parts_a_long_text_goes_as_single_messages_without_a_header,
);

fn texts_in_every_alphabet_arrive_as_sent_with_their_encoding_and_parts() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let config = bot_config(&mut rig, "");
    let bot = Bot::start(&config, free_addr(), &rig.dir().join("bot.log"));
    let long: String = "The quick brown fox jumps over the lazy dog. "
        .repeat(9)
        .chars()
        .take(400)
        .collect();
    let cases = [
        ("Hello from the voice bot", "GSM7", 1),
        ("Grüße aus Köln: 5 € für Äpfel", "GSM7", 1),
        ("Привет, как дела?", "UCS2", 1),
        ("Party 🎉 tonight 😀", "UCS2", 1),
        (long.as_str(), "GSM7", 3),
    ];
    let mut ids = Vec::new();
    for (text, encoding, parts) in cases {
        let body = format!(r#"{{"to": "{TO}", "text": {}}}"#, json_string(text));
        let (status, answer) = bot.http("POST", "/sms", Some(&body));
        assert_eq!(status, 202, "{answer}");
        assert_eq!(answer["encoding"], encoding, "{text}");
        assert_eq!(answer["parts"], parts, "{text}");
        ids.push((answer["id"].as_str().unwrap().to_owned(), text, parts));
    }
    for (id, text, parts) in &ids {
        let record = wait_finished(&bot, id, SENT_WITHIN);
        assert_eq!(record["state"], "sent", "{text}: {record}");
        assert_eq!(
            record["message_references"].as_array().unwrap().len(),
            *parts as usize,
            "{record}"
        );
    }
    let sim = rig.modem().state().unwrap();
    let sent: Vec<(&str, &str)> = sim
        .modem
        .sent
        .iter()
        .map(|s| (s.number.as_str(), s.text.as_str()))
        .collect();
    let expected: Vec<(&str, &str)> = ids.iter().map(|(_, text, _)| (TO, *text)).collect();
    assert_eq!(sent, expected, "what the network got, in order");
    assert!(sim.modem.sent_parts.iter().all(|p| p.mode == "pdu"));
    // The code pages of a debug build alone are several MiB, so the peak is printed and
    // the budget is checked on what the bot allocates (heap and stacks).
    let (peak, anon) = (bot.rss_kib("VmHWM"), bot.rss_kib("RssAnon"));
    eprintln!("bot memory after five SMS: peak RSS {peak} KiB, anonymous {anon} KiB");
    assert!(anon < 4096, "the bot holds {anon} KiB of anonymous memory");
    assert!(bot.terminate().success());
}

fn the_unified_api_paths_queue_and_send_with_its_response_shape() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let config = bot_config(&mut rig, "");
    let bot = Bot::start(&config, free_addr(), &rig.dir().join("bot.log"));
    let mut ids = Vec::new();
    for (n, path) in ["/send", "/send_sms", "/pi_send_message"]
        .iter()
        .enumerate()
    {
        let body = format!(r#"{{"to": "{TO}", "message": "via {path} #{n}"}}"#);
        let (status, answer) = bot.http("POST", path, Some(&body));
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["success"], true);
        assert_eq!(answer["queued"], true);
        assert_eq!(answer["encoding"], "GSM7");
        assert_eq!(answer["parts"], 1);
        ids.push(answer["message_id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        assert_eq!(wait_finished(&bot, id, SENT_WITHIN)["state"], "sent");
    }
    let texts: Vec<String> = rig
        .modem()
        .state()
        .unwrap()
        .modem
        .sent
        .into_iter()
        .map(|s| s.text)
        .collect();
    assert_eq!(
        texts,
        [
            "via /send #0",
            "via /send_sms #1",
            "via /pi_send_message #2"
        ]
    );
    assert!(bot.terminate().success());
}

fn with_separate_parts_a_long_text_goes_as_single_messages_without_a_header() {
    let mut rig = Rig::simulated(SimConfig::default()).unwrap();
    let config = bot_config(&mut rig, "");
    // Appending to [sms] would need TOML surgery; a second [sms] table is an error, so the
    // option goes in by rewriting the key line.
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replacen("[sms]\n", "[sms]\nseparate_parts = true\n", 1);
    std::fs::write(&config, text).unwrap();
    let bot = Bot::start(&config, free_addr(), &rig.dir().join("bot.log"));
    let message = "Съешь же ещё этих мягких французских булок, да выпей чаю. ".repeat(3);
    let body = format!(r#"{{"to": "{TO}", "text": {}}}"#, json_string(&message));
    let (status, answer) = bot.http("POST", "/sms", Some(&body));
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        (answer["encoding"].as_str(), answer["parts"].as_u64()),
        (Some("UCS2"), Some(3))
    );
    let record = wait_finished(&bot, answer["id"].as_str().unwrap(), SENT_WITHIN);
    assert_eq!(record["state"], "sent", "{record}");
    assert_eq!(record["delivery"], "separate_messages");

    let sim = rig.modem().state().unwrap();
    assert_eq!(sim.modem.sent_parts.len(), 3);
    assert!(
        sim.modem.sent_parts.iter().all(|p| p.concat.is_none()),
        "no concatenation header"
    );
    assert_eq!(sim.modem.sent.len(), 3, "three messages, not one");
    let joined: String = sim.modem.sent.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(joined, message);
    assert!(bot.terminate().success());
}
