//! The driver's probe and init against a scripted modem: exact bytes out, replies in.
#![allow(clippy::unwrap_used)]

mod support;

use futures::executor::block_on;
use modem_core::config::{AnswerMode, SmsIndication, StepPolicy, VoiceConfig};
use modem_core::driver::{Error, ErrorKind, StepOutcome};
use support::ScriptedModem;

const NOTIFY: SmsIndication = SmsIndication::StoreAndNotify;

#[test]
fn probe_finds_a_sim7600_with_echo_still_on() {
    // The seed's detection dialogue, modem side exact (SIM7600-PROTOCOL.md).
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT\r", b"AT\r\r\nOK\r\n")
        .expect(
            b"AT+CGMI\r",
            b"AT+CGMI\r\r\nSIMCOM INCORPORATED\r\n\r\nOK\r\n",
        )
        .expect(
            b"AT+CGMM\r",
            b"AT+CGMM\r\r\nSIMCOM_SIM7600E-H\r\n\r\nOK\r\n",
        );
    let identity = block_on(modem.modem.probe()).unwrap();
    assert_eq!(identity.manufacturer.as_str(), "SIMCOM INCORPORATED");
    assert_eq!(identity.model.as_str(), "SIMCOM_SIM7600E-H");
    assert!(identity.is_sim7600);
    modem.assert_script_done();
}

#[test]
fn probe_finds_a_sim7600g_h_with_echo_off() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT\r", b"\r\nOK\r\n")
        .expect(b"AT+CGMI\r", b"\r\nSIMCOM INCORPORATED\r\n\r\nOK\r\n")
        .expect(b"AT+CGMM\r", b"\r\nSIMCOM_SIM7600G-H\r\n\r\nOK\r\n");
    let identity = block_on(modem.modem.probe()).unwrap();
    assert!(identity.is_sim7600);
    assert_eq!(identity.model.as_str(), "SIMCOM_SIM7600G-H");
}

#[test]
fn identify_after_init_asks_only_cgmi_and_cgmm() {
    // The bot's init has just had its AT answered: identify sends no second one (the
    // script would reject any byte it does not expect).
    let mut modem = ScriptedModem::new();
    seed_init_script(&mut modem, b"\r\nOK\r\n");
    modem
        .expect(b"AT+CGMI\r", b"\r\nSIMCOM INCORPORATED\r\n\r\nOK\r\n")
        .expect(b"AT+CGMM\r", b"\r\nSIMCOM_SIM7600G-H\r\n\r\nOK\r\n");
    block_on(modem.modem.init(&VoiceConfig::default(), NOTIFY)).unwrap();
    let identity = block_on(modem.modem.identify()).unwrap();
    assert!(identity.is_sim7600);
    assert_eq!(identity.model.as_str(), "SIMCOM_SIM7600G-H");
    modem.assert_script_done();
}

#[test]
fn probe_on_another_modem_reports_its_identity_and_says_it_is_not_a_sim7600() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT\r", b"AT\r\r\nOK\r\n")
        .expect(b"AT+CGMI\r", b"AT+CGMI\r\r\nQuectel\r\n\r\nOK\r\n")
        .expect(b"AT+CGMM\r", b"AT+CGMM\r\r\nEC25\r\n\r\nOK\r\n");
    let identity = block_on(modem.modem.probe()).unwrap();
    assert_eq!(identity.manufacturer.as_str(), "Quectel");
    assert_eq!(identity.model.as_str(), "EC25");
    assert!(!identity.is_sim7600);
}

#[test]
fn probe_on_a_simcom_modem_of_another_family_is_not_a_sim7600() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT\r", b"\r\nOK\r\n")
        .expect(b"AT+CGMI\r", b"\r\nSIMCOM_Ltd\r\n\r\nOK\r\n")
        .expect(b"AT+CGMM\r", b"\r\nSIMCOM_SIM800L\r\n\r\nOK\r\n");
    assert!(!block_on(modem.modem.probe()).unwrap().is_sim7600);
}

#[test]
fn probe_of_a_modem_with_prefixed_identity_lines_keeps_the_value() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT\r", b"\r\nOK\r\n")
        .expect(b"AT+CGMI\r", b"\r\n+CGMI: u-blox\r\n\r\nOK\r\n")
        .expect(b"AT+CGMM\r", b"\r\n+CGMM: SARA-R410M-02B\r\n\r\nOK\r\n");
    let identity = block_on(modem.modem.probe()).unwrap();
    assert_eq!(identity.manufacturer.as_str(), "u-blox");
    assert_eq!(identity.model.as_str(), "SARA-R410M-02B");
}

#[test]
fn probe_of_a_modem_that_refuses_cgmi_names_the_command() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT\r", b"\r\nOK\r\n")
        .expect(b"AT+CGMI\r", b"\r\nERROR\r\n");
    let error = block_on(modem.modem.probe()).unwrap_err();
    assert_eq!(error, Error::new("AT+CGMI", ErrorKind::Error));
    assert_eq!(
        error.to_string(),
        "AT+CGMI failed: the modem answered ERROR"
    );
}

/// The whole init of the default config: the seed's six steps, then the three added ones.
fn seed_init_script(modem: &mut ScriptedModem, cexterntone_reply: &[u8]) {
    seed_steps_script(modem, cexterntone_reply);
    added_steps_script(modem, b"AT+CNMI=2,1,0,0,0\r");
}

/// The seed's six steps of the default config (echo still on for the first two).
fn seed_steps_script(modem: &mut ScriptedModem, cexterntone_reply: &[u8]) {
    modem
        .expect(b"AT\r", b"AT\r\r\nOK\r\n")
        .expect(b"ATE0\r", b"ATE0\r\r\nOK\r\n")
        .expect(b"AT+CEXTERNTONE=1\r", cexterntone_reply)
        .expect(b"AT+CLIP=1\r", b"\r\nOK\r\n")
        .expect(b"ATS0=3\r", b"\r\nOK\r\n")
        .expect(b"AT+CLVL=5\r", b"\r\nOK\r\n");
}

/// The steps robust operation adds after the seed's, all answered `OK`.
fn added_steps_script(modem: &mut ScriptedModem, cnmi: &[u8]) {
    modem
        .expect(b"AT+CMEE=1\r", b"\r\nOK\r\n")
        .expect(b"AT+CLCC=1\r", b"\r\nOK\r\n")
        .expect(cnmi, b"\r\nOK\r\n");
}

#[test]
fn init_runs_the_seed_sequence_and_reports_every_step() {
    let mut modem = ScriptedModem::new();
    seed_init_script(&mut modem, b"\r\nOK\r\n");
    let report = block_on(modem.modem.init(&VoiceConfig::default(), NOTIFY)).unwrap();
    let commands: Vec<_> = report.steps.iter().map(|s| s.command.as_str()).collect();
    assert_eq!(
        commands,
        [
            "AT",
            "ATE0",
            "AT+CEXTERNTONE=1",
            "AT+CLIP=1",
            "ATS0=3",
            "AT+CLVL=5",
            "AT+CMEE=1",
            "AT+CLCC=1",
            "AT+CNMI=2,1,0,0,0"
        ]
    );
    assert!(report.steps.iter().all(|s| s.outcome == StepOutcome::Done));
    assert_eq!(report.warnings().count(), 0);
    modem.assert_script_done();
}

#[test]
fn init_with_cexterntone_answering_error_warns_and_goes_on() {
    let mut modem = ScriptedModem::new();
    seed_init_script(&mut modem, b"\r\nERROR\r\n");
    let report = block_on(modem.modem.init(&VoiceConfig::default(), NOTIFY)).unwrap();
    let warnings: Vec<_> = report.warnings().collect();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].command.as_str(), "AT+CEXTERNTONE=1");
    assert_eq!(
        warnings[0].outcome,
        StepOutcome::Warning(Error::new("AT+CEXTERNTONE", ErrorKind::Error))
    );
    assert_eq!(report.steps.len(), 9);
    modem.assert_script_done();
}

#[test]
fn init_with_cexterntone_answering_cme_error_also_warns() {
    let mut modem = ScriptedModem::new();
    seed_init_script(&mut modem, b"\r\n+CME ERROR: 4\r\n");
    let report = block_on(modem.modem.init(&VoiceConfig::default(), NOTIFY)).unwrap();
    let warnings: Vec<_> = report.warnings().collect();
    assert_eq!(
        warnings[0].outcome,
        StepOutcome::Warning(Error::new("AT+CEXTERNTONE", ErrorKind::Cme(4)))
    );
}

#[test]
fn init_fails_on_cexterntone_when_the_config_requires_it() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT\r", b"\r\nOK\r\n")
        .expect(b"ATE0\r", b"\r\nOK\r\n")
        .expect(b"AT+CEXTERNTONE=1\r", b"\r\nERROR\r\n");
    let config = VoiceConfig::default().with_external_tone(StepPolicy::Required);
    let error = block_on(modem.modem.init(&config, NOTIFY)).unwrap_err();
    assert_eq!(error, Error::new("AT+CEXTERNTONE", ErrorKind::Error));
    modem.assert_script_done();
}

#[test]
fn init_fails_when_a_required_step_fails_and_sends_nothing_after_it() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT\r", b"\r\nOK\r\n")
        .expect(b"ATE0\r", b"\r\nOK\r\n")
        .expect(b"AT+CEXTERNTONE=1\r", b"\r\nOK\r\n")
        .expect(b"AT+CLIP=1\r", b"\r\n+CME ERROR: 3\r\n");
    let error = block_on(modem.modem.init(&VoiceConfig::default(), NOTIFY)).unwrap_err();
    assert_eq!(error, Error::new("AT+CLIP", ErrorKind::Cme(3)));
    assert_eq!(modem.commands().len(), 4);
}

#[test]
fn init_in_host_mode_tells_the_modem_never_to_answer_and_sets_the_volume() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT\r", b"\r\nOK\r\n")
        .expect(b"ATE0\r", b"\r\nOK\r\n")
        .expect(b"AT+CEXTERNTONE=1\r", b"\r\nOK\r\n")
        .expect(b"AT+CLIP=1\r", b"\r\nOK\r\n")
        .expect(b"ATS0=0\r", b"\r\nOK\r\n")
        .expect(b"AT+CLVL=2\r", b"\r\nOK\r\n");
    added_steps_script(&mut modem, b"AT+CNMI=2,1,0,0,0\r");
    let config = VoiceConfig::new(4, 2)
        .unwrap()
        .with_answer_mode(AnswerMode::Host);
    block_on(modem.modem.init(&config, NOTIFY)).unwrap();
    modem.assert_script_done();
}

#[test]
fn init_with_255_rings_sends_ats0_255() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT\r", b"\r\nOK\r\n")
        .expect(b"ATE0\r", b"\r\nOK\r\n")
        .expect(b"AT+CEXTERNTONE=1\r", b"\r\nOK\r\n")
        .expect(b"AT+CLIP=1\r", b"\r\nOK\r\n")
        .expect(b"ATS0=255\r", b"\r\nOK\r\n")
        .expect(b"AT+CLVL=0\r", b"\r\nOK\r\n");
    added_steps_script(&mut modem, b"AT+CNMI=2,1,0,0,0\r");
    block_on(modem.modem.init(&VoiceConfig::new(255, 0).unwrap(), NOTIFY)).unwrap();
    modem.assert_script_done();
}

#[test]
fn init_for_a_host_that_takes_status_reports_routes_them() {
    let mut modem = ScriptedModem::new();
    seed_steps_script(&mut modem, b"\r\nOK\r\n");
    added_steps_script(&mut modem, b"AT+CNMI=2,1,0,1,0\r");
    let report = block_on(
        modem
            .modem
            .init(&VoiceConfig::default(), SmsIndication::StoreAndRouteReports),
    )
    .unwrap();
    assert_eq!(report.steps[8].command.as_str(), "AT+CNMI=2,1,0,1,0");
    assert_eq!(report.warnings().count(), 0);
    modem.assert_script_done();
}

#[test]
fn init_with_the_added_steps_refused_or_unanswered_warns_and_goes_on() {
    let mut modem = ScriptedModem::new();
    seed_steps_script(&mut modem, b"\r\nOK\r\n");
    modem
        .expect(b"AT+CMEE=1\r", b"\r\nERROR\r\n")
        .expect_silence(b"AT+CLCC=1\r")
        .expect(b"AT+CNMI=2,1,0,0,0\r", b"\r\n+CMS ERROR: 303\r\n")
        .expect(b"AT+CGMI\r", b"\r\nSIMCOM INCORPORATED\r\n\r\nOK\r\n")
        .expect(b"AT+CGMM\r", b"\r\nSIMCOM_SIM7600G-H\r\n\r\nOK\r\n");
    let report = block_on(modem.modem.init(&VoiceConfig::default(), NOTIFY)).unwrap();
    let warnings: Vec<_> = report
        .warnings()
        .map(|step| (step.command.as_str(), step.outcome.clone()))
        .collect();
    assert_eq!(
        warnings,
        [
            (
                "AT+CMEE=1",
                StepOutcome::Warning(Error::new("AT+CMEE", ErrorKind::Error))
            ),
            (
                "AT+CLCC=1",
                StepOutcome::Warning(Error::new("AT+CLCC", ErrorKind::Timeout))
            ),
            (
                "AT+CNMI=2,1,0,0,0",
                StepOutcome::Warning(Error::new("AT+CNMI", ErrorKind::Cms(303)))
            ),
        ]
    );
    // The link still works after the silent step.
    assert!(block_on(modem.modem.identify()).unwrap().is_sim7600);
    modem.assert_script_done();
}

#[test]
fn init_with_garbage_for_an_added_step_does_not_panic_and_warns() {
    let mut modem = ScriptedModem::new();
    seed_steps_script(&mut modem, b"\r\nOK\r\n");
    modem
        .expect(b"AT+CMEE=1\r", b"\r\n\xff\xfe+CME ERROR: \x01\r\n")
        .expect(b"AT+CLCC=1\r", b"\r\nOK\r\n")
        .expect(b"AT+CNMI=2,1,0,0,0\r", b"\r\nOK\r\n");
    let report = block_on(modem.modem.init(&VoiceConfig::default(), NOTIFY)).unwrap();
    assert_eq!(report.steps.len(), 9);
    let warnings: Vec<_> = report.warnings().map(|s| s.command.as_str()).collect();
    assert_eq!(warnings, ["AT+CMEE=1"]);
    modem.assert_script_done();
}

/// A host killed between `AT+CMGS`'s `> ` prompt and the body leaves the modem taking
/// every byte as message text: the next host's `AT` gets no answer. ESC ends the wait
/// (nothing is sent), and the second `AT` is answered.
fn modem_left_waiting_for_a_body(modem: &mut ScriptedModem) {
    modem.expect_silence(b"AT\r").expect(b"\x1b", b"\r\nOK\r\n");
}

#[test]
fn init_rescues_a_modem_left_waiting_for_an_sms_body() {
    let mut modem = ScriptedModem::new();
    modem_left_waiting_for_a_body(&mut modem);
    seed_init_script(&mut modem, b"\r\nOK\r\n");
    let report = block_on(modem.modem.init(&VoiceConfig::default(), NOTIFY)).unwrap();
    assert_eq!(report.steps[0].command.as_str(), "AT");
    assert!(report.steps.iter().all(|s| s.outcome == StepOutcome::Done));
    modem.assert_script_done();
}

#[test]
fn probe_rescues_a_modem_left_waiting_for_an_sms_body() {
    let mut modem = ScriptedModem::new();
    modem_left_waiting_for_a_body(&mut modem);
    modem
        .expect(b"AT\r", b"\r\nOK\r\n")
        .expect(b"AT+CGMI\r", b"\r\nSIMCOM INCORPORATED\r\n\r\nOK\r\n")
        .expect(b"AT+CGMM\r", b"\r\nSIMCOM_SIM7600G-H\r\n\r\nOK\r\n");
    assert!(block_on(modem.modem.probe()).unwrap().is_sim7600);
    modem.assert_script_done();
}

#[test]
fn a_modem_that_stays_silent_after_esc_is_a_timeout_of_at() {
    let mut modem = ScriptedModem::new();
    modem
        .expect_silence(b"AT\r")
        .expect_silence(b"\x1b")
        .expect_silence(b"AT\r");
    let error = block_on(modem.modem.probe()).unwrap_err();
    assert_eq!(error, Error::new("AT", ErrorKind::Timeout));
    modem.assert_script_done();
}
