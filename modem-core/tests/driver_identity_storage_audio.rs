//! The driver's identity, storage, volume, PCM audio and reset commands: the exact bytes
//! they write, how they read the modem's replies, and that a malformed reply is an error
//! (never a panic) after which the next command still works.
#![allow(clippy::unwrap_used)]

mod support;

use futures::executor::block_on;
use modem_core::command::audio::PcmCommand;
use modem_core::command::audio::types::{PcmFormat, PcmRegister};
use modem_core::command::sms::responses::StorageUsage;
use modem_core::driver::{Error, ErrorKind, InvalidArgument};
use modem_core::sim_slots::{SimSlots, SlotRead};
use support::ScriptedModem;

#[test]
fn imsi_sends_cimi_and_reads_the_digits_with_or_without_a_prefix() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT+CIMI\r", b"\r\n262011234567890\r\n\r\nOK\r\n")
        .expect(b"AT+CIMI\r", b"\r\n+CIMI: 310410123456789\r\n\r\nOK\r\n");
    block_on(async {
        let imsi = modem.modem.imsi().await.unwrap();
        assert_eq!(imsi.digits.as_str(), "262011234567890");
        let imsi = modem.modem.imsi().await.unwrap();
        assert_eq!(imsi.digits.as_str(), "310410123456789");
    });
    modem.assert_script_done();
}

#[test]
fn imsi_without_a_sim_is_the_cme_error() {
    let mut modem = ScriptedModem::new();
    modem.expect(b"AT+CIMI\r", b"\r\n+CME ERROR: 10\r\n");
    assert_eq!(
        block_on(modem.modem.imsi()).unwrap_err(),
        Error::new("AT+CIMI", ErrorKind::Cme(10))
    );
}

#[test]
fn malformed_imsi_imei_and_revision_replies_are_parse_errors_and_the_link_goes_on() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT+CIMI\r", b"\r\n26201ABC\r\n\r\nOK\r\n")
        .expect(b"AT+CIMI\r", b"\r\n2620112345678901234\r\n\r\nOK\r\n")
        .expect(b"AT+CIMI\r", b"\r\nOK\r\n")
        .expect(b"AT+CGSN\r", b"\r\n\xff\xfe\r\n\r\nOK\r\n")
        .expect(b"AT+CGSN\r", b"\r\n12345\r\n\r\nOK\r\n")
        .expect(b"AT+CGMR\r", b"\r\nOK\r\n")
        .expect(b"AT+CIMI\r", b"\r\n262011234567890\r\n\r\nOK\r\n");
    block_on(async {
        let parse = |command| Error::new(command, ErrorKind::Parse);
        assert_eq!(modem.modem.imsi().await.unwrap_err(), parse("AT+CIMI"));
        assert_eq!(modem.modem.imsi().await.unwrap_err(), parse("AT+CIMI"));
        assert_eq!(modem.modem.imsi().await.unwrap_err(), parse("AT+CIMI"));
        assert_eq!(modem.modem.imei().await.unwrap_err(), parse("AT+CGSN"));
        assert_eq!(modem.modem.imei().await.unwrap_err(), parse("AT+CGSN"));
        assert_eq!(modem.modem.revision().await.unwrap_err(), parse("AT+CGMR"));
        assert!(modem.modem.imsi().await.is_ok());
    });
    modem.assert_script_done();
}

#[test]
fn imei_and_revision_read_cgsn_and_cgmr() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT+CGSN\r", b"\r\n351602000330570\r\n\r\nOK\r\n")
        .expect(b"AT+CGMR\r", b"\r\n+CGMR: LE20B04SIM7600M22\r\n\r\nOK\r\n");
    block_on(async {
        assert_eq!(
            modem.modem.imei().await.unwrap().digits.as_str(),
            "351602000330570"
        );
        assert_eq!(
            modem.modem.revision().await.unwrap().revision.as_str(),
            "LE20B04SIM7600M22"
        );
    });
    modem.assert_script_done();
}

#[test]
fn storage_sends_cpms_query_and_its_read_storage_starts_a_slot_scan() {
    let mut modem = ScriptedModem::new();
    modem.expect(
        b"AT+CPMS?\r",
        b"\r\n+CPMS: \"SM\",2,30,\"SM\",2,30,\"ME\",0,180\r\n\r\nOK\r\n",
    );
    let storage = block_on(modem.modem.storage()).unwrap();
    assert_eq!(
        storage.read,
        StorageUsage {
            storage: heapless::String::try_from("SM").unwrap(),
            used: 2,
            total: 30,
        }
    );
    assert_eq!(storage.receive.storage.as_str(), "ME");
    assert_eq!(storage.receive.total, 180);
    let mut slots = SimSlots::new();
    slots.start_scan(&storage.read);
    let mut read = Vec::new();
    while let Some(index) = slots.next_slot() {
        read.push(index);
        let found = if [0, 3].contains(&index) {
            SlotRead::Message
        } else {
            SlotRead::Empty
        };
        slots.read(index, found);
    }
    assert_eq!(read, [0, 1, 2, 3]);
    modem.assert_script_done();
}

#[test]
fn malformed_storage_replies_are_parse_errors_and_the_link_goes_on() {
    let mut modem = ScriptedModem::new();
    modem
        // Only the read storage: the other two are missing.
        .expect(b"AT+CPMS?\r", b"\r\n+CPMS: \"SM\",2,30\r\n\r\nOK\r\n")
        .expect(
            b"AT+CPMS?\r",
            b"\r\n+CPMS: \"SM\",-1,30,\"SM\",0,30,\"SM\",0,30\r\n\r\nOK\r\n",
        )
        .expect(
            b"AT+CPMS?\r",
            b"\r\n+CPMS: \"VERYLONGNAME\",0,30,\"SM\",0,30,\"SM\",0,30\r\n\r\nOK\r\n",
        )
        .expect(b"AT+CPMS?\r", b"\r\n+CPMS: \r\n\r\nOK\r\n")
        .expect(b"AT+CPMS?\r", b"\r\n\xc3\x28\r\n\r\nOK\r\n")
        .expect(b"AT+CPMS?\r", b"\r\n+CME ERROR: 14\r\n")
        .expect(
            b"AT+CPMS?\r",
            b"\r\n+CPMS: \"SM\",0,30,\"SM\",0,30,\"SM\",0,30\r\n\r\nOK\r\n",
        );
    block_on(async {
        for _ in 0..5 {
            assert_eq!(
                modem.modem.storage().await.unwrap_err(),
                Error::new("AT+CPMS?", ErrorKind::Parse)
            );
        }
        assert_eq!(
            modem.modem.storage().await.unwrap_err(),
            Error::new("AT+CPMS?", ErrorKind::Cme(14))
        );
        assert_eq!(modem.modem.storage().await.unwrap().read.used, 0);
    });
    modem.assert_script_done();
}

#[test]
fn set_volume_sends_clvl_and_refuses_a_level_above_5_before_sending() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT+CLVL=3\r", b"\r\nOK\r\n")
        .expect(b"AT+CLVL=0\r", b"\r\nERROR\r\n");
    block_on(async {
        modem.modem.set_volume(3).await.unwrap();
        assert_eq!(
            modem.modem.set_volume(0).await.unwrap_err(),
            Error::new("AT+CLVL", ErrorKind::Error)
        );
        assert_eq!(
            modem.modem.set_volume(6).await.unwrap_err(),
            Error::new(
                "AT+CLVL",
                ErrorKind::InvalidArgument(InvalidArgument {
                    name: "volume",
                    problem: "must be 0..=5"
                })
            )
        );
    });
    modem.assert_script_done();
    assert_eq!(modem.commands().len(), 2);
}

#[test]
fn switch_pcm_sends_each_command_as_it_describes_itself() {
    let commands = [
        PcmCommand::WIDEBAND,
        PcmCommand::START,
        PcmCommand::STOP,
        PcmCommand::Format(PcmFormat::Rate8kHz),
    ];
    let mut modem = ScriptedModem::new();
    for command in commands {
        let wire = format!("{}\r", command.describe());
        modem.expect(wire.as_bytes(), b"\r\nOK\r\n");
    }
    block_on(async {
        for command in commands {
            modem.modem.switch_pcm(command).await.unwrap();
        }
    });
    modem.assert_script_done();
    assert_eq!(
        modem.commands(),
        [
            "AT+CPCMFRM=1\r",
            "AT+CPCMREG=1\r",
            "AT+CPCMREG=0\r",
            "AT+CPCMFRM=0\r"
        ]
    );
    assert_eq!(PcmCommand::START.to_string(), "AT+CPCMREG=1");
    assert_eq!(
        PcmCommand::Register(PcmRegister::Stop),
        PcmCommand::STOP,
        "the named commands are the typed values"
    );
}

#[test]
fn switch_pcm_refused_too_early_names_the_command_and_the_retry_goes_out() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT+CPCMREG=1\r", b"\r\n+CME ERROR: 3\r\n")
        .expect(b"AT+CPCMFRM=1\r", b"\r\n\x00garbage\r\n\r\nERROR\r\n")
        .expect(b"AT+CPCMREG=1\r", b"\r\nOK\r\n");
    block_on(async {
        assert_eq!(
            modem.modem.switch_pcm(PcmCommand::START).await.unwrap_err(),
            Error::new("AT+CPCMREG", ErrorKind::Cme(3))
        );
        assert_eq!(
            modem
                .modem
                .switch_pcm(PcmCommand::WIDEBAND)
                .await
                .unwrap_err(),
            Error::new("AT+CPCMFRM", ErrorKind::Error)
        );
        modem.modem.switch_pcm(PcmCommand::START).await.unwrap();
    });
    modem.assert_script_done();
}

#[test]
fn reset_sends_cfun_1_1_and_a_hung_modem_is_a_timeout() {
    let mut modem = ScriptedModem::new();
    modem
        .expect(b"AT+CFUN=1,1\r", b"\r\nOK\r\n")
        .expect_silence(b"AT+CFUN=1,1\r");
    block_on(async {
        modem.modem.reset().await.unwrap();
        assert_eq!(
            modem.modem.reset().await.unwrap_err(),
            Error::new("AT+CFUN", ErrorKind::Timeout)
        );
    });
    modem.assert_script_done();
}
