//! The simulator's general AT behaviour, through a client that speaks only bytes.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Port, fresh, started};
use modem_sim::{ExterntoneReply, Identity, SimConfig, Simulator};

#[test]
fn the_first_reader_gets_the_start_up_lines_then_echo_is_on() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let mut port = Port::open(&sim.port());
    assert_eq!(
        port.expect("PB DONE\r\n"),
        "\r\nRDY\r\n\r\n+CPIN: READY\r\n\r\nSMS DONE\r\n\r\nPB DONE\r\n"
    );
    assert_eq!(port.at("AT"), "AT\r\r\nOK\r\n");
    assert_eq!(port.at("ATE0"), "ATE0\r\r\nOK\r\n");
    assert_eq!(port.at("AT"), "\r\nOK\r\n");
    assert_eq!(port.at("ATE1"), "\r\nOK\r\n");
    assert_eq!(port.at("AT"), "AT\r\r\nOK\r\n");
}

#[test]
fn detection_dialogue_matches_the_protocol_notes_byte_for_byte() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let mut port = Port::open(&sim.port());
    port.expect("PB DONE\r\n");
    assert_eq!(port.at("AT"), "AT\r\r\nOK\r\n");
    assert_eq!(
        port.at("AT+CGMI"),
        "AT+CGMI\r\r\nSIMCOM INCORPORATED\r\n\r\nOK\r\n"
    );
    assert_eq!(
        port.at("AT+CGMM"),
        "AT+CGMM\r\r\nSIMCOM_SIM7600G-H\r\n\r\nOK\r\n"
    );
}

#[test]
fn identity_commands_answer_bare_or_prefixed_as_a_sim7600_does() {
    let (_sim, mut port) = fresh();
    assert_eq!(
        port.at("AT+CGMR"),
        "\r\n+CGMR: LE20B04SIM7600M22\r\n\r\nOK\r\n"
    );
    assert_eq!(port.at("AT+CGSN"), "\r\n351602000330570\r\n\r\nOK\r\n");
    assert_eq!(port.at("AT+CIMI"), "\r\n262011234567890\r\n\r\nOK\r\n");
    assert_eq!(
        port.at("ATI"),
        "\r\nManufacturer: SIMCOM INCORPORATED\r\nModel: SIMCOM_SIM7600G-H\r\n\
         Revision: LE20B04SIM7600M22\r\nIMEI: 351602000330570\r\n+GCAP: +CGSM\r\n\r\nOK\r\n"
    );
    assert_eq!(port.at("AT+CPIN?"), "\r\n+CPIN: READY\r\n\r\nOK\r\n");
    assert_eq!(port.at("AT+CSQ"), "\r\n+CSQ: 16,99\r\n\r\nOK\r\n");
}

#[test]
fn a_configured_identity_presents_a_modem_that_is_not_a_sim7600() {
    let config = SimConfig {
        identity: Identity {
            manufacturer: "Quectel".into(),
            model: "EC25".into(),
            ..Identity::default()
        },
        ..SimConfig::default()
    };
    let (_sim, mut port) = started(config);
    assert_eq!(port.at("AT+CGMI"), "\r\nQuectel\r\n\r\nOK\r\n");
    assert_eq!(port.at("AT+CGMM"), "\r\nEC25\r\n\r\nOK\r\n");
}

#[test]
fn smsd_s_chained_init_line_sets_both_settings_with_one_ok() {
    let (_sim, mut port) = fresh();
    assert_eq!(port.at("AT+CREG?"), "\r\n+CREG: 0,1\r\n\r\nOK\r\n");
    assert_eq!(port.at("AT+CMEE=1;+CREG=2"), "\r\nOK\r\n");
    assert_eq!(
        port.at("AT+CREG?"),
        "\r\n+CREG: 2,1,\"1A2B\",\"01C3D4E5\"\r\n\r\nOK\r\n"
    );
    assert_eq!(port.at("AT+CMEE?"), "\r\n+CMEE: 1\r\n\r\nOK\r\n");
    assert_eq!(port.at("at+creg=1;+clip=1"), "\r\nOK\r\n");
    assert_eq!(port.at("AT+CREG?"), "\r\n+CREG: 1,1\r\n\r\nOK\r\n");
}

#[test]
fn bad_parameters_answer_in_the_form_cmee_asks_for() {
    let (_sim, mut port) = fresh();
    assert_eq!(port.at("AT+CLVL=9"), "\r\nERROR\r\n");
    assert_eq!(port.at("AT+CMGR=99"), "\r\nERROR\r\n");
    port.at("AT+CMEE=1");
    assert_eq!(port.at("AT+CLVL=9"), "\r\n+CME ERROR: 50\r\n");
    assert_eq!(port.at("AT+CMGR=99"), "\r\n+CMS ERROR: 321\r\n");
    port.at("AT+CMEE=2");
    assert_eq!(
        port.at("AT+CLVL=9"),
        "\r\n+CME ERROR: Incorrect parameters\r\n"
    );
    assert_eq!(
        port.at("AT+CMGR=99"),
        "\r\n+CMS ERROR: invalid memory index\r\n"
    );
    assert_eq!(
        port.at("AT+CMEE=3"),
        "\r\n+CME ERROR: Incorrect parameters\r\n"
    );
}

#[test]
fn unknown_commands_are_plain_error_even_with_cmee() {
    let (_sim, mut port) = fresh();
    port.at("AT+CMEE=2");
    assert_eq!(port.at("AT+FOO"), "\r\nERROR\r\n");
    assert_eq!(port.at("AT+DDET=1"), "\r\nERROR\r\n");
    assert_eq!(port.at("ATX#"), "\r\nERROR\r\n");
    assert_eq!(port.at("AT+CLIP=1;+NOPE"), "\r\nERROR\r\n");
    // The chain stopped before the unknown command, but what came before it took effect.
    assert_eq!(port.at("AT+CLIP?"), "\r\n+CLIP: 1,1\r\n\r\nOK\r\n");
}

#[test]
fn speaker_volume_is_0_to_5_default_4_and_survives_a_reset() {
    let (sim, mut port) = fresh();
    assert_eq!(port.at("AT+CLVL?"), "\r\n+CLVL: 4\r\n\r\nOK\r\n");
    assert_eq!(port.at("AT+CLVL=5"), "\r\nOK\r\n");
    assert_eq!(port.at("AT+CLVL=?"), "\r\n+CLVL: (0-5)\r\n\r\nOK\r\n");
    sim.reset().unwrap();
    port.expect("PB DONE\r\n");
    assert_eq!(port.at("AT+CLVL?"), "AT+CLVL?\r\r\n+CLVL: 5\r\n\r\nOK\r\n");
}

#[test]
fn externtone_is_ok_by_default_and_error_when_configured() {
    let (sim, mut port) = fresh();
    assert_eq!(port.at("AT+CEXTERNTONE=1"), "\r\nOK\r\n");
    assert_eq!(
        sim.state().unwrap().modem.settings.externtone.as_deref(),
        Some("1")
    );
    let config = SimConfig {
        externtone: ExterntoneReply::Error,
        ..SimConfig::default()
    };
    let (_sim, mut port) = started(config);
    port.at("AT+CMEE=1");
    assert_eq!(port.at("AT+CEXTERNTONE=1"), "\r\nERROR\r\n");
}

#[test]
fn usb_audio_is_switched_with_cpcmreg() {
    let (_sim, mut port) = fresh();
    assert_eq!(port.at("AT+CPCMREG?"), "\r\n+CPCMREG: 0\r\n\r\nOK\r\n");
    assert_eq!(port.at("AT+CPCMREG=1"), "\r\nOK\r\n");
    assert_eq!(port.at("AT+CPCMREG?"), "\r\n+CPCMREG: 1\r\n\r\nOK\r\n");
    assert_eq!(port.at("AT+CPCMREG=0"), "\r\nOK\r\n");
    port.at("AT+CMEE=1");
    assert_eq!(port.at("AT+CPCMREG=2"), "\r\n+CME ERROR: 50\r\n");
    assert_eq!(port.at("AT+CPCMFRM?"), "\r\n+CPCMFRM: 0\r\n\r\nOK\r\n");
    assert_eq!(port.at("AT+CPCMFRM=1"), "\r\nOK\r\n");
    assert_eq!(port.at("AT+CPCMFRM?"), "\r\n+CPCMFRM: 1\r\n\r\nOK\r\n");
}

#[test]
fn reset_repeats_the_start_up_lines_and_restores_power_up_settings() {
    let (sim, mut port) = fresh();
    port.at("AT+CLIP=1;+CMEE=2;+CMGF=1");
    port.at("ATS0=3");
    sim.reset().unwrap();
    assert_eq!(
        port.expect("PB DONE\r\n"),
        "\r\nRDY\r\n\r\n+CPIN: READY\r\n\r\nSMS DONE\r\n\r\nPB DONE\r\n"
    );
    // Echo is back on, and everything else is at its power-up value.
    assert_eq!(port.at("ATS0?"), "ATS0?\r\r\n000\r\n\r\nOK\r\n");
    assert_eq!(
        port.at("AT+CLIP?"),
        "AT+CLIP?\r\r\n+CLIP: 0,1\r\n\r\nOK\r\n"
    );
    assert_eq!(port.at("AT+CMGF?"), "AT+CMGF?\r\r\n+CMGF: 0\r\n\r\nOK\r\n");
}

#[test]
fn a_host_restart_via_creset_also_repeats_the_start_up_lines() {
    let (_sim, mut port) = fresh();
    port.send("AT+CRESET");
    assert_eq!(port.expect("\r\nOK\r\n"), "\r\nOK\r\n");
    assert_eq!(
        port.expect("PB DONE\r\n"),
        "\r\nRDY\r\n\r\n+CPIN: READY\r\n\r\nSMS DONE\r\n\r\nPB DONE\r\n"
    );
    assert_eq!(port.at("AT"), "AT\r\r\nOK\r\n");
}

#[test]
fn an_over_long_command_line_is_refused_and_the_next_one_works() {
    let (_sim, mut port) = fresh();
    let long = format!(
        "AT+CLVL={}",
        "1".repeat(modem_sim::modem::MAX_COMMAND_LINE + 10)
    );
    assert_eq!(port.at(&long), "\r\nERROR\r\n");
    assert_eq!(port.at("AT"), "\r\nOK\r\n");
}

#[test]
fn lines_that_are_not_commands_are_ignored_like_a_modem_does() {
    let (_sim, mut port) = fresh();
    port.send("hello");
    port.send("");
    assert_eq!(port.at("AT"), "\r\nOK\r\n");
}
