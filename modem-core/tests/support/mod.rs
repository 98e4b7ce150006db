//! A scripted SIM7600 on the other end of the driver's wire: no hardware, no threads.
//!
//! The driver writes through a [`ScriptedPort`] (an `embedded_io_async::Write`). When atat's
//! client flushes a command, the port checks it against the next step of the script (exact
//! bytes), records it, and feeds the scripted reply into the link's `Ingress`, in chunks of
//! a chosen size, the way a host reader thread would (`try_write`, checking the count). The
//! reply is therefore in the response slot before the client starts waiting, so every test
//! runs on one thread with `futures::executor::block_on`; a step with no reply makes the
//! command wait for its (short, test-only) timeout.
#![allow(clippy::unwrap_used, dead_code)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use embassy_time::{Duration, Instant};
use modem_core::driver::{
    ModemClient, ModemIngress, ModemUrcChannel, ModemUrcSubscription, Parts, Resources, Sim7600,
};
use modem_core::urc::Urc;

use atat::AtatIngress;

/// How long a test command waits for a reply that never comes.
pub const TEST_RESPONSE_TIMEOUT_MS: u64 = 150;

fn short_timeout(start: Instant, _command_timeout: Duration) -> Instant {
    start + Duration::from_millis(TEST_RESPONSE_TIMEOUT_MS)
}

/// atat's configuration for tests: no cooldown, short response timeout.
pub fn test_config() -> atat::Config {
    atat::Config::new()
        .cmd_cooldown(Duration::from_millis(0))
        .get_response_timeout(short_timeout)
}

/// One exchange of the script.
#[derive(Debug, Clone)]
struct Step {
    expect: Vec<u8>,
    reply: Option<Vec<u8>>,
}

#[derive(Default)]
struct Wire {
    ingress: Option<ModemIngress<'static>>,
    script: VecDeque<Step>,
    pending: Vec<u8>,
    commands: Vec<Vec<u8>>,
    chunk: usize,
}

impl Wire {
    fn feed(&mut self, bytes: &[u8]) {
        let chunk = self.chunk.max(1);
        let ingress = self
            .ingress
            .as_mut()
            .expect("the port was used before the ingress was attached");
        for piece in bytes.chunks(chunk) {
            let accepted = ingress
                .try_write(piece)
                .unwrap_or_else(|e| panic!("ingress refused {piece:?}: {e:?}"));
            assert_eq!(
                accepted,
                piece.len(),
                "the ingress buffer was full: a host reader would have to drop bytes"
            );
        }
    }
}

/// The driver's side of the wire (what atat's client writes to).
pub struct ScriptedPort {
    wire: Rc<RefCell<Wire>>,
}

impl embedded_io::ErrorType for ScriptedPort {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io_async::Write for ScriptedPort {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.wire.borrow_mut().pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        let mut wire = self.wire.borrow_mut();
        let written = std::mem::take(&mut wire.pending);
        if written.is_empty() {
            return Ok(());
        }
        wire.commands.push(written.clone());
        let Some(step) = wire.script.pop_front() else {
            panic!(
                "the driver wrote {:?} after the script ended",
                String::from_utf8_lossy(&written)
            );
        };
        assert_eq!(
            String::from_utf8_lossy(&written),
            String::from_utf8_lossy(&step.expect),
            "the driver wrote something other than the script expects"
        );
        if let Some(reply) = step.reply {
            wire.feed(&reply);
        }
        Ok(())
    }
}

/// A modem that answers from a script, and the link the driver under test runs on.
pub struct ScriptedModem {
    wire: Rc<RefCell<Wire>>,
    /// The driver under test.
    pub modem: Sim7600<ModemClient<'static, ScriptedPort>>,
    urcs: &'static ModemUrcChannel,
}

impl ScriptedModem {
    /// A fresh link; replies are fed in one piece.
    pub fn new() -> Self {
        Self::with_chunks(usize::MAX)
    }

    /// A fresh link whose replies are fed `chunk` bytes at a time (1: byte by byte).
    pub fn with_chunks(chunk: usize) -> Self {
        let resources: &'static mut Resources = Box::leak(Box::new(Resources::new()));
        let wire = Rc::new(RefCell::new(Wire {
            chunk,
            ..Wire::default()
        }));
        let port = ScriptedPort { wire: wire.clone() };
        let Parts {
            ingress,
            modem,
            urcs,
        } = resources.split(port, test_config());
        wire.borrow_mut().ingress = Some(ingress);
        Self { wire, modem, urcs }
    }

    /// The modem answers `command` (exact bytes, `\r` included) with `reply` (exact bytes).
    pub fn expect(&mut self, command: &[u8], reply: &[u8]) -> &mut Self {
        self.wire.borrow_mut().script.push_back(Step {
            expect: command.to_vec(),
            reply: Some(reply.to_vec()),
        });
        self
    }

    /// The modem receives `command` and says nothing.
    pub fn expect_silence(&mut self, command: &[u8]) -> &mut Self {
        self.wire.borrow_mut().script.push_back(Step {
            expect: command.to_vec(),
            reply: None,
        });
        self
    }

    /// The modem sends `bytes` on its own (URCs between commands).
    pub fn modem_sends(&self, bytes: &[u8]) {
        self.wire.borrow_mut().feed(bytes);
    }

    /// Every command the driver wrote, in order.
    pub fn commands(&self) -> Vec<String> {
        self.wire
            .borrow()
            .commands
            .iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect()
    }

    /// Asserts that the script was played to its end.
    pub fn assert_script_done(&self) {
        let wire = self.wire.borrow();
        assert!(
            wire.script.is_empty(),
            "the driver did not send {:?}",
            wire.script
                .iter()
                .map(|s| String::from_utf8_lossy(&s.expect).into_owned())
                .collect::<Vec<_>>()
        );
    }

    /// A subscription to the link's URCs (subscribe before the bytes that carry them).
    pub fn subscribe(&self) -> ModemUrcSubscription<'static> {
        self.urcs.subscribe().unwrap()
    }
}

/// Every URC waiting in `subscription`.
pub fn drain(subscription: &mut ModemUrcSubscription<'static>) -> Vec<Urc> {
    let mut urcs = Vec::new();
    while let Some(urc) = subscription.try_next_message_pure() {
        urcs.push(urc);
    }
    urcs
}
