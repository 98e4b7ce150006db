//! The digester behind atat's real async client, wired as a host wires it: the port's
//! writer wrapped in a `TrackedWriter`, a reader thread feeding `Ingress::try_write`, URCs
//! read from a subscription. A scripted modem thread answers each command the client
//! writes with SIM7600 bytes.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::sync::mpsc;

use atat::asynch::{AtatClient, Client};
use atat::{AtatIngress, Config, Ingress, ResponseSlot, UrcChannel};
use modem_core::command::MAX_COMMAND_LEN;
use modem_core::command::call::responses::CallList;
use modem_core::command::call::{Answer, ListCalls};
use modem_core::command::network::GetSignalQuality;
use modem_core::command::network::responses::SignalQuality;
use modem_core::command::sms::responses::MessageSent;
use modem_core::command::sms::{MessageBody, SendTextMessage};
use modem_core::digest::{
    CommandTracker, INGRESS_BUF_SIZE, MAX_RESPONSE_LEN, Sim7600Digester, TrackedWriter,
};
use modem_core::urc::Urc;

/// The port's write half: every write goes to the scripted modem.
struct PortWriter(mpsc::Sender<Vec<u8>>);

impl embedded_io::ErrorType for PortWriter {
    type Error = Infallible;
}

impl embedded_io_async::Write for PortWriter {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        // A closed channel means the modem thread is done; the test then fails on its reply.
        let _ = self.0.send(buf.to_vec());
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// Runs `host` against a modem that answers the n-th write with `replies[n]` (`None`:
/// stays silent), and returns the URCs the subscription saw.
fn with_modem(
    replies: Vec<Option<&'static [u8]>>,
    host: impl AsyncFnOnce(&mut Client<'_, TrackedWriter<'_, PortWriter>, MAX_RESPONSE_LEN>),
) -> Vec<Urc> {
    let tracker = CommandTracker::new();
    let slot = ResponseSlot::<MAX_RESPONSE_LEN>::new();
    let urcs = UrcChannel::<Urc, 16, 1>::new();
    let mut subscription = urcs.subscribe().unwrap();
    let mut ingress_buf = [0u8; INGRESS_BUF_SIZE];
    let mut command_buf = [0u8; MAX_COMMAND_LEN];
    let (to_modem, from_host) = mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        let mut ingress = Ingress::new(
            Sim7600Digester::with_tracker(&tracker),
            &mut ingress_buf,
            &slot,
            &urcs,
        );
        scope.spawn(move || {
            for reply in replies {
                if from_host.recv().is_err() {
                    return;
                }
                if let Some(bytes) = reply {
                    assert_eq!(ingress.try_write(bytes).unwrap(), bytes.len());
                }
            }
        });
        let writer = TrackedWriter::new(PortWriter(to_modem), &tracker);
        let mut client = Client::new(writer, &slot, &mut command_buf, Config::default());
        futures::executor::block_on(host(&mut client));
    });
    std::iter::from_fn(|| subscription.try_next_message_pure()).collect()
}

#[test]
fn a_call_rings_while_the_host_asks_for_the_signal() {
    let urcs = with_modem(
        vec![Some(
            b"\r\n+CSQ: 16,99\r\n\r\nRING\r\n\r\n+CLIP: \"+491761234567\",145,,,,0\r\n\r\nOK\r\n",
        )],
        async |client| {
            let quality = client.send(&GetSignalQuality).await.unwrap();
            assert_eq!(
                quality,
                SignalQuality {
                    rssi: Some(16),
                    ber: None
                }
            );
        },
    );
    assert_eq!(urcs.len(), 2);
    assert_eq!(urcs[0], Urc::Ring);
    assert!(matches!(urcs[1], Urc::CallerId(_)));
}

#[test]
fn call_list_reply_is_the_list_and_later_clcc_lines_are_urcs() {
    let urcs = with_modem(
        vec![
            Some(b"\r\n+CLCC: 1,1,4,0,0,\"+491761234567\",145\r\n\r\nOK\r\n"),
            Some(b"\r\nOK\r\n\r\n+CLCC: 1,1,0,0,0,\"+491761234567\",145\r\n\r\nVOICE CALL: BEGIN\r\n"),
        ],
        async |client| {
            let list: CallList = client.send(&ListCalls).await.unwrap();
            assert_eq!(list.calls.len(), 1);
            client.send(&Answer).await.unwrap();
        },
    );
    assert!(matches!(
        urcs.as_slice(),
        [Urc::CallStatus(_), Urc::VoiceCallBegin]
    ));
}

#[test]
fn answering_when_nobody_calls_fails_with_no_carrier() {
    with_modem(vec![Some(b"\r\nNO CARRIER\r\n")], async |client| {
        assert_eq!(
            client.send(&Answer).await,
            Err(atat::Error::ConnectionError(
                atat::ConnectionError::NoCarrier
            ))
        );
    });
}

#[test]
fn sms_is_sent_in_two_steps() {
    with_modem(
        vec![Some(b"\r\n> "), Some(b"\r\n+CMGS: 12\r\n\r\nOK\r\n")],
        async |client| {
            client
                .send(&SendTextMessage {
                    number: heapless::String::try_from("+491721234567").unwrap(),
                })
                .await
                .unwrap();
            let sent = client
                .send(&MessageBody::text(b"Hello").unwrap())
                .await
                .unwrap();
            assert_eq!(sent, MessageSent { reference: 12 });
        },
    );
}

#[test]
fn a_silent_modem_times_the_command_out_then_the_next_command_works() {
    with_modem(
        vec![None, Some(b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n")],
        async |client| {
            assert_eq!(
                client.send(&GetSignalQuality).await,
                Err(atat::Error::Timeout)
            );
            assert_eq!(client.send(&GetSignalQuality).await.unwrap().rssi, Some(20));
        },
    );
}
