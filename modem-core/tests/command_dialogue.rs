//! Every command: the exact bytes it writes, and its typed reply parsed from the SIM7600's
//! real reply bytes after they went through atat's `Ingress` and the SIM7600 digester, as
//! they do in the driver.
#![allow(clippy::unwrap_used)]

use core::num::NonZeroU8;

use atat::{AtatCmd, AtatIngress, Ingress, ResponseSlot, UrcChannel};
use modem_core::command::audio::types::{ExternalTone, PcmFormat, PcmRegister, SpeakerVolume};
use modem_core::command::audio::{SetExternalTone, SetPcmFormat, SetPcmRegister, SetSpeakerVolume};
use modem_core::command::call::responses::{AutoAnswerSetting, CallList};
use modem_core::command::call::types::{
    AutoAnswer, CallListReporting, CallerIdPresentation, CellularResultCodes, VoiceHangupControl,
};
use modem_core::command::call::{
    Answer, GetAutoAnswer, HangUp, ListCalls, SetAutoAnswer, SetCallListReporting,
    SetCallerIdPresentation, SetCellularResultCodes, SetVoiceHangupControl,
};
use modem_core::command::general::responses::{
    Identification, Imei, Imsi, Manufacturer, Model, Revision, SimStatus,
};
use modem_core::command::general::types::{EchoMode, ErrorReporting};
use modem_core::command::general::{
    Attention, GetImei, GetImsi, GetManufacturer, GetModel, GetRevision, GetSimStatus, Identify,
    ResetModem, SetEcho, SetErrorReporting,
};
use modem_core::command::network::responses::{Registration, SignalQuality};
use modem_core::command::network::types::{RegistrationReporting, RegistrationStatus};
use modem_core::command::network::{GetRegistration, GetSignalQuality};
use modem_core::command::sms::responses::{
    MessageSent, PreferredStorage, StorageUsage, StoredMessage,
};
use modem_core::command::sms::types::{MessageFormat, MessageStatus};
use modem_core::command::sms::{
    DeleteMessage, GetPreferredStorage, MessageBody, MessageBodyError, ReadMessage, SendPduMessage,
    SendTextMessage, SetMessageFormat, SetNewMessageIndication,
};
use modem_core::command::{MAX_COMMAND_LEN, NoResponse};
use modem_core::digest::{CommandTracker, INGRESS_BUF_SIZE, Sim7600Digester};
use modem_core::urc::{CallDirection, CallMode, CallState, CallStatus, NumberType, SimState, Urc};

/// The bytes `cmd` writes into a client buffer of `MAX_COMMAND_LEN`.
fn bytes<C: AtatCmd>(cmd: &C) -> Vec<u8> {
    let mut buf = [0u8; MAX_COMMAND_LEN];
    let len = cmd.write(&mut buf);
    buf[..len].to_vec()
}

/// Writes `cmd` (through the tracker, as `TrackedWriter` does), feeds the modem's bytes to
/// a real ingress, and parses the reply the waiting command would get.
fn dialogue<C: AtatCmd>(cmd: &C, modem: &[u8]) -> Result<C::Response, atat::Error> {
    let tracker = CommandTracker::new();
    let slot = ResponseSlot::<INGRESS_BUF_SIZE>::new();
    let channel = UrcChannel::<Urc, 8, 1>::new();
    let mut buf = [0u8; INGRESS_BUF_SIZE];
    let mut ingress = Ingress::new(
        Sim7600Digester::with_tracker(&tracker),
        &mut buf,
        &slot,
        &channel,
    );
    tracker.command_sent(&bytes(cmd));
    ingress.try_write(modem).unwrap();
    let reply = slot.try_get().expect("the command got no reply");
    cmd.parse((&*reply).into())
}

fn s<const N: usize>(text: &str) -> heapless::String<N> {
    heapless::String::try_from(text).unwrap()
}

#[test]
fn general_commands_are_written_exactly() {
    assert_eq!(bytes(&Attention), b"AT\r");
    assert_eq!(
        bytes(&SetEcho {
            mode: EchoMode::Off
        }),
        b"ATE0\r"
    );
    assert_eq!(bytes(&SetEcho { mode: EchoMode::On }), b"ATE1\r");
    assert_eq!(bytes(&Identify), b"ATI\r");
    assert_eq!(bytes(&GetManufacturer), b"AT+CGMI\r");
    assert_eq!(bytes(&GetModel), b"AT+CGMM\r");
    assert_eq!(bytes(&GetRevision), b"AT+CGMR\r");
    assert_eq!(bytes(&GetImei), b"AT+CGSN\r");
    assert_eq!(bytes(&ResetModem), b"AT+CFUN=1,1\r");
    assert_eq!(bytes(&GetImsi), b"AT+CIMI\r");
    assert_eq!(
        bytes(&SetErrorReporting {
            mode: ErrorReporting::Numeric
        }),
        b"AT+CMEE=1\r"
    );
    assert_eq!(bytes(&GetSimStatus), b"AT+CPIN?\r");
}

#[test]
fn network_commands_are_written_exactly() {
    assert_eq!(bytes(&GetSignalQuality), b"AT+CSQ\r");
    assert_eq!(bytes(&GetRegistration), b"AT+CREG?\r");
}

#[test]
fn call_commands_are_written_exactly() {
    assert_eq!(bytes(&Answer), b"ATA\r");
    assert_eq!(bytes(&HangUp), b"AT+CHUP\r");
    assert_eq!(
        bytes(&SetAutoAnswer {
            auto_answer: AutoAnswer::from_rings(3)
        }),
        b"ATS0=3\r"
    );
    assert_eq!(
        bytes(&SetAutoAnswer {
            auto_answer: AutoAnswer::Disabled
        }),
        b"ATS0=0\r"
    );
    assert_eq!(
        bytes(&SetAutoAnswer {
            auto_answer: AutoAnswer::from_rings(255)
        }),
        b"ATS0=255\r"
    );
    assert_eq!(bytes(&GetAutoAnswer), b"ATS0?\r");
    assert_eq!(
        bytes(&SetCallerIdPresentation {
            mode: CallerIdPresentation::Enabled
        }),
        b"AT+CLIP=1\r"
    );
    assert_eq!(
        bytes(&SetCallListReporting {
            mode: CallListReporting::Enabled
        }),
        b"AT+CLCC=1\r"
    );
    assert_eq!(bytes(&ListCalls), b"AT+CLCC\r");
    assert_eq!(
        bytes(&SetCellularResultCodes {
            mode: CellularResultCodes::Enabled
        }),
        b"AT+CRC=1\r"
    );
    assert_eq!(
        bytes(&SetVoiceHangupControl {
            mode: VoiceHangupControl::AthHangsUp
        }),
        b"AT+CVHU=0\r"
    );
}

#[test]
fn audio_commands_are_written_exactly() {
    for level in 0..=5 {
        let volume = SpeakerVolume::new(level).unwrap();
        assert_eq!(
            bytes(&SetSpeakerVolume { volume }),
            format!("AT+CLVL={level}\r").as_bytes()
        );
    }
    assert_eq!(SpeakerVolume::new(6), None);
    assert_eq!(
        bytes(&SetExternalTone {
            mode: ExternalTone::On
        }),
        b"AT+CEXTERNTONE=1\r"
    );
    assert_eq!(
        bytes(&SetPcmRegister {
            mode: PcmRegister::Start
        }),
        b"AT+CPCMREG=1\r"
    );
    assert_eq!(
        bytes(&SetPcmRegister {
            mode: PcmRegister::Stop
        }),
        b"AT+CPCMREG=0\r"
    );
    assert_eq!(
        bytes(&SetPcmFormat {
            format: PcmFormat::Rate16kHz
        }),
        b"AT+CPCMFRM=1\r"
    );
}

#[test]
fn sms_commands_are_written_exactly() {
    assert_eq!(
        bytes(&SetMessageFormat {
            format: MessageFormat::Text
        }),
        b"AT+CMGF=1\r"
    );
    assert_eq!(
        bytes(&SetMessageFormat {
            format: MessageFormat::Pdu
        }),
        b"AT+CMGF=0\r"
    );
    assert_eq!(
        bytes(&SetNewMessageIndication::store_and_notify()),
        b"AT+CNMI=2,1,0,0,0\r"
    );
    assert_eq!(bytes(&GetPreferredStorage), b"AT+CPMS?\r");
    assert_eq!(
        bytes(&SendTextMessage {
            number: s("+491721234567")
        }),
        b"AT+CMGS=\"+491721234567\"\r"
    );
    assert_eq!(bytes(&SendPduMessage { length: 21 }), b"AT+CMGS=21\r");
    assert_eq!(bytes(&ReadMessage { index: 0 }), b"AT+CMGR=0\r");
    assert_eq!(bytes(&DeleteMessage { index: 12 }), b"AT+CMGD=12\r");
    assert_eq!(bytes(&MessageBody::text(b"Hello").unwrap()), b"Hello\x1a");
    assert_eq!(
        bytes(&MessageBody::pdu_hex("0011000B911326880736F40000A90AE8329BFD4697D9EC37").unwrap()),
        b"0011000B911326880736F40000A90AE8329BFD4697D9EC37\x1a"
    );
}

#[test]
fn the_longest_body_fits_the_documented_command_buffer() {
    let hex = "00".repeat(MAX_COMMAND_LEN / 2 - 1);
    let body = MessageBody::pdu_hex(&hex).unwrap();
    let written = bytes(&body);
    assert_eq!(written.len(), hex.len() + 1);
    assert_eq!(written.last(), Some(&0x1a));
}

#[test]
fn a_body_that_does_not_fit_the_buffer_cancels_instead_of_sending_half() {
    let body = MessageBody::text(b"a message of some length").unwrap();
    let mut small = [0u8; 8];
    assert_eq!(body.write(&mut small), 1);
    assert_eq!(small[0], 0x1b);
    assert_eq!(body.write(&mut []), 0);
}

#[test]
fn bad_bodies_are_refused_with_the_reason() {
    assert_eq!(
        MessageBody::text(b"ab\x1acd"),
        Err(MessageBodyError::ControlByte { position: 2 })
    );
    assert_eq!(
        MessageBody::text(&[b'a'; 400]),
        Err(MessageBodyError::TooLong { len: 400 })
    );
    assert_eq!(MessageBody::pdu_hex("0G"), Err(MessageBodyError::NotHex));
    assert_eq!(MessageBody::pdu_hex("001"), Err(MessageBodyError::NotHex));
    assert_eq!(
        MessageBodyError::TooLong { len: 400 }.to_string(),
        "message body is 400 bytes, at most 352 are allowed"
    );
}

#[test]
fn timeouts_of_the_slow_commands() {
    assert_eq!(Answer::MAX_TIMEOUT_MS, 20_000);
    assert_eq!(HangUp::MAX_TIMEOUT_MS, 20_000);
    assert_eq!(GetSimStatus::MAX_TIMEOUT_MS, 5_000);
    assert_eq!(<MessageBody<'_> as AtatCmd>::MAX_TIMEOUT_MS, 120_000);
    assert_eq!(ReadMessage::MAX_TIMEOUT_MS, 5_000);
    assert_eq!(GetSignalQuality::MAX_TIMEOUT_MS, 1_000);
}

#[test]
fn identity_replies_with_echo_on() {
    assert_eq!(
        dialogue(
            &GetManufacturer,
            b"AT+CGMI\r\r\nSIMCOM INCORPORATED\r\n\r\nOK\r\n"
        )
        .unwrap(),
        Manufacturer {
            name: s("SIMCOM INCORPORATED")
        }
    );
    let model = dialogue(&GetModel, b"AT+CGMM\r\r\nSIMCOM_SIM7600E-H\r\n\r\nOK\r\n").unwrap();
    assert_eq!(model.name, "SIMCOM_SIM7600E-H");
    assert!(model.is_sim7600());
    assert!(
        dialogue(
            &GetManufacturer,
            b"AT+CGMI\r\r\nSIMCOM INCORPORATED\r\n\r\nOK\r\n"
        )
        .unwrap()
        .is_simcom()
    );
    assert!(!Model::parse(b"Quectel_EC25").unwrap().is_sim7600());
}

#[test]
fn identity_replies_with_echo_off() {
    assert_eq!(
        dialogue(&GetRevision, b"\r\n+CGMR: LE20B04SIM7600M22\r\n\r\nOK\r\n").unwrap(),
        Revision {
            revision: s("LE20B04SIM7600M22")
        }
    );
    assert_eq!(
        dialogue(&GetImei, b"\r\n351602000330570\r\n\r\nOK\r\n").unwrap(),
        Imei {
            digits: s("351602000330570")
        }
    );
    assert_eq!(
        Imei::parse(b"35160200033057X"),
        Err(modem_core::command::ParseError {
            reply: "+CGSN",
            reason: "not 14 to 17 decimal digits"
        })
    );
    assert_eq!(
        dialogue(&GetImsi, b"\r\n262011234567890\r\n\r\nOK\r\n").unwrap(),
        Imsi {
            digits: s("262011234567890")
        }
    );
    assert_eq!(
        Imsi::parse(b"+CIMI: 310260000000000")
            .unwrap()
            .digits
            .as_str(),
        "310260000000000"
    );
    for bad in [
        &b"2620112345678901"[..],
        b"26201",
        b"26201X234567890",
        b"ERROR",
    ] {
        assert_eq!(
            Imsi::parse(bad),
            Err(modem_core::command::ParseError {
                reply: "+CIMI",
                reason: "not 6 to 15 decimal digits"
            }),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn ati_identification() {
    let reply = b"\r\nManufacturer: SIMCOM INCORPORATED\r\nModel: SIMCOM_SIM7600G-H\r\n\
Revision: SIM7600M22_V2.0\r\nIMEI: 351602000330570\r\n+GCAP: +CGSM\r\n\r\nOK\r\n";
    assert_eq!(
        dialogue(&Identify, reply).unwrap(),
        Identification {
            manufacturer: Some(s("SIMCOM INCORPORATED")),
            model: Some(s("SIMCOM_SIM7600G-H")),
            revision: Some(s("SIM7600M22_V2.0")),
            imei: Some(s("351602000330570")),
        }
    );
}

#[test]
fn ati_with_a_ring_between_its_lines() {
    let reply = b"\r\nManufacturer: SIMCOM INCORPORATED\r\nModel: SIMCOM_SIM7600G-H\r\n\r\nRING\r\n\
\r\n+CLIP: \"+491761234567\",145,,,,0\r\nRevision: SIM7600M22_V2.0\r\nIMEI: 351602000330570\r\n\r\nOK\r\n";
    let id = dialogue(&Identify, reply).unwrap();
    assert_eq!(id.model, Some(s("SIMCOM_SIM7600G-H")));
    assert_eq!(id.imei, Some(s("351602000330570")));
}

#[test]
fn commands_answering_only_ok() {
    assert_eq!(dialogue(&Attention, b"AT\r\r\nOK\r\n").unwrap(), NoResponse);
    assert_eq!(
        dialogue(
            &SetEcho {
                mode: EchoMode::Off
            },
            b"ATE0\r\r\nOK\r\n"
        )
        .unwrap(),
        NoResponse
    );
    assert_eq!(dialogue(&HangUp, b"\r\nOK\r\n").unwrap(), NoResponse);
    assert_eq!(
        dialogue(
            &SetAutoAnswer {
                auto_answer: AutoAnswer::from_rings(3)
            },
            b"\r\nOK\r\n"
        )
        .unwrap(),
        NoResponse
    );
}

#[test]
fn unverified_externtone_answering_error_is_an_error_the_driver_can_downgrade() {
    assert_eq!(
        dialogue(
            &SetExternalTone {
                mode: ExternalTone::On
            },
            b"\r\nERROR\r\n"
        ),
        Err(atat::Error::Error)
    );
}

#[test]
fn sim_status_reply() {
    assert_eq!(
        dialogue(&GetSimStatus, b"\r\n+CPIN: READY\r\n\r\nOK\r\n").unwrap(),
        SimStatus {
            state: SimState::Ready
        }
    );
    assert_eq!(
        dialogue(&GetSimStatus, b"\r\n+CME ERROR: 10\r\n"),
        Err(atat::Error::CmeError(atat::CmeError::SimNotInserted))
    );
}

#[test]
fn signal_quality_and_registration() {
    let quality = dialogue(&GetSignalQuality, b"\r\n+CSQ: 16,99\r\n\r\nOK\r\n").unwrap();
    assert_eq!(
        quality,
        SignalQuality {
            rssi: Some(16),
            ber: None
        }
    );
    assert_eq!(quality.rssi_dbm(), Some(-81));
    let unknown = SignalQuality::parse(b"+CSQ: 99,99").unwrap();
    assert_eq!(unknown.rssi, None);
    assert_eq!(unknown.rssi_dbm(), None);
    assert_eq!(
        dialogue(&GetRegistration, b"\r\n+CREG: 0,1\r\n\r\nOK\r\n").unwrap(),
        Registration {
            reporting: RegistrationReporting::Disabled,
            status: RegistrationStatus::Home
        }
    );
    assert!(RegistrationStatus::from_code(5).is_registered());
    assert!(!RegistrationStatus::from_code(2).is_registered());
}

#[test]
fn auto_answer_query() {
    assert_eq!(
        dialogue(&GetAutoAnswer, b"\r\n000\r\n\r\nOK\r\n").unwrap(),
        AutoAnswerSetting {
            auto_answer: AutoAnswer::Disabled
        }
    );
    assert_eq!(
        dialogue(&GetAutoAnswer, b"ATS0?\r\r\n003\r\n\r\nOK\r\n").unwrap(),
        AutoAnswerSetting {
            auto_answer: AutoAnswer::AfterRings(NonZeroU8::new(3).unwrap())
        }
    );
    assert!(AutoAnswerSetting::parse(b"300").is_err());
}

#[test]
fn answer_with_and_without_a_ringing_call() {
    assert_eq!(dialogue(&Answer, b"\r\nOK\r\n").unwrap(), NoResponse);
    assert_eq!(
        dialogue(&Answer, b"\r\nNO CARRIER\r\n"),
        Err(atat::Error::ConnectionError(
            atat::ConnectionError::NoCarrier
        ))
    );
}

#[test]
fn call_list_with_one_and_with_no_call() {
    let reply = b"\r\n+CLCC: 1,1,4,0,0,\"+491761234567\",145\r\n\r\nOK\r\n";
    let list = dialogue(&ListCalls, reply).unwrap();
    assert_eq!(
        list.calls.as_slice(),
        [CallStatus {
            id: 1,
            direction: CallDirection::MobileTerminated,
            state: CallState::Incoming,
            mode: CallMode::Voice,
            multiparty: false,
            number: Some(s("+491761234567")),
            number_type: Some(NumberType::International),
            alpha: None,
            validity: None,
        }]
    );
    assert_eq!(
        dialogue(&ListCalls, b"\r\nOK\r\n").unwrap(),
        CallList::default()
    );
    let two = b"\r\n+CLCC: 1,1,0,0,0,\"+491761234567\",145\r\n+CLCC: 2,1,5,0,0,\"07712345678\",129\r\n\r\nOK\r\n";
    assert_eq!(dialogue(&ListCalls, two).unwrap().calls.len(), 2);
}

#[test]
fn sms_send_in_text_mode_prompt_then_reference() {
    assert_eq!(
        dialogue(
            &SendTextMessage {
                number: s("+491721234567")
            },
            b"\r\n> "
        )
        .unwrap(),
        NoResponse
    );
    assert_eq!(
        dialogue(
            &MessageBody::text(b"Hello").unwrap(),
            b"\r\n+CMGS: 12\r\n\r\nOK\r\n"
        )
        .unwrap(),
        MessageSent { reference: 12 }
    );
}

#[test]
fn sms_send_in_pdu_mode_refused_by_the_network() {
    assert_eq!(
        dialogue(&SendPduMessage { length: 21 }, b"\r\n> ").unwrap(),
        NoResponse
    );
    assert_eq!(
        dialogue(
            &MessageBody::pdu_hex("0011000B911326880736F40000A90AE8329BFD4697D9EC37").unwrap(),
            b"\r\n+CMS ERROR: 38\r\n"
        ),
        Err(atat::Error::CmsError(atat::CmsError::from(38)))
    );
}

#[test]
fn preferred_storage() {
    let reply = b"\r\n+CPMS: \"SM\",3,50,\"SM\",3,50,\"SM\",3,50\r\n\r\nOK\r\n";
    let usage = StorageUsage {
        storage: s("SM"),
        used: 3,
        total: 50,
    };
    assert_eq!(
        dialogue(&GetPreferredStorage, reply).unwrap(),
        PreferredStorage {
            read: usage.clone(),
            write: usage.clone(),
            receive: usage,
        }
    );
    assert!(PreferredStorage::parse(b"+CPMS: \"SM\",3,50").is_err());
}

#[test]
fn read_a_message_in_pdu_mode() {
    let pdu = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07";
    let reply = format!("\r\n+CMGR: 0,,30\r\n{pdu}\r\n\r\nOK\r\n");
    assert_eq!(
        dialogue(&ReadMessage { index: 0 }, reply.as_bytes()).unwrap(),
        StoredMessage::Pdu {
            status: MessageStatus::ReceivedUnread,
            length: 30,
            pdu: s(pdu),
        }
    );
}

#[test]
fn read_a_message_in_text_mode() {
    let reply = b"\r\n+CMGR: \"REC UNREAD\",\"+491761234567\",\"\",\"24/05/01,10:00:00+08\"\r\nRING\r\n\r\nOK\r\n";
    assert_eq!(
        dialogue(&ReadMessage { index: 3 }, reply).unwrap(),
        StoredMessage::Text {
            status: MessageStatus::ReceivedUnread,
            address: Some(s("+491761234567")),
            timestamp: Some(s("24/05/01,10:00:00+08")),
            text: heapless::Vec::from_slice(b"RING").unwrap(),
        }
    );
}

#[test]
fn read_an_empty_index_and_a_bad_index() {
    assert_eq!(
        dialogue(&ReadMessage { index: 7 }, b"\r\nOK\r\n").unwrap(),
        StoredMessage::Empty
    );
    assert_eq!(
        dialogue(&ReadMessage { index: 99 }, b"\r\n+CMS ERROR: 321\r\n"),
        Err(atat::Error::CmsError(atat::CmsError::InvalidIndex))
    );
    assert!(StoredMessage::parse(b"+CMGR: 0,,30\r\nNOTHEX").is_err());
}

#[test]
fn delete_a_message() {
    assert_eq!(
        dialogue(&DeleteMessage { index: 0 }, b"\r\nOK\r\n").unwrap(),
        NoResponse
    );
}

#[test]
fn read_a_multi_line_text_message_whose_lines_read_like_commands() {
    let reply = b"\r\n+CMGR: \"REC READ\",\"+491761234567\",\"\",\"24/05/01,10:00:00+08\"\r\nOK\r\nAT+CHUP\r\nAt home\r\n\r\nOK\r\n";
    let StoredMessage::Text { text, .. } = dialogue(&ReadMessage { index: 1 }, reply).unwrap()
    else {
        panic!("not a text message")
    };
    assert_eq!(text.as_slice(), b"OK\nAT+CHUP\nAt home");
}
