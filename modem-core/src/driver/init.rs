//! The commands of [`Sim7600::init`](super::Sim7600::init) as one type.
//!
//! atat's client is generic over the command it sends, and the driver's async methods
//! inline what they await: nine command types sent one after the other would put nine
//! copies of the client's send path into `init`. Sent as one [`InitCommand`], they share
//! one, which is what keeps the example firmware within its flash budget. Each variant
//! writes and reads exactly as its command does; the one command with a longer timeout
//! (`AT+CLIP`) is sent as itself.

use atat::AtatCmd;

use crate::command::NoResponse;
use crate::command::audio::{SetExternalTone, SetSpeakerVolume};
use crate::command::call::{SetAutoAnswer, SetCallListReporting, SetCallerIdPresentation};
use crate::command::general::{Attention, SetEcho, SetErrorReporting};
use crate::command::sms::SetNewMessageIndication;

use super::error::ATTENTION_COMMAND;

/// One command of init, all of them answering only `OK`.
#[derive(Debug, Clone)]
pub(super) enum InitCommand {
    /// `AT`
    Attention(Attention),
    /// `ATE0`
    Echo(SetEcho),
    /// `AT+CEXTERNTONE=1`
    ExternalTone(SetExternalTone),
    /// `AT+CLIP=1`, sent as itself: it may take 15 s.
    CallerId(SetCallerIdPresentation),
    /// `ATS0=<n>`
    AutoAnswer(SetAutoAnswer),
    /// `AT+CLVL=<volume>`
    Volume(SetSpeakerVolume),
    /// `AT+CMEE=1`
    ErrorReporting(SetErrorReporting),
    /// `AT+CLCC=1`
    CallListReporting(SetCallListReporting),
    /// `AT+CNMI=...`
    NewMessageIndication(SetNewMessageIndication),
}

// Sent as an `InitCommand`, a command waits `InitCommand::MAX_TIMEOUT_MS`: the same as on
// its own, checked here for every variant but `CallerId` (which goes out as itself).
const _: () = {
    let timeout = InitCommand::MAX_TIMEOUT_MS;
    assert!(Attention::MAX_TIMEOUT_MS == timeout);
    assert!(SetEcho::MAX_TIMEOUT_MS == timeout);
    assert!(SetExternalTone::MAX_TIMEOUT_MS == timeout);
    assert!(SetAutoAnswer::MAX_TIMEOUT_MS == timeout);
    assert!(SetSpeakerVolume::MAX_TIMEOUT_MS == timeout);
    assert!(SetErrorReporting::MAX_TIMEOUT_MS == timeout);
    assert!(SetCallListReporting::MAX_TIMEOUT_MS == timeout);
    assert!(SetNewMessageIndication::MAX_TIMEOUT_MS == timeout);
};

impl InitCommand {
    /// The name errors give the command.
    pub(super) const fn name(&self) -> &'static str {
        match self {
            Self::Attention(_) => ATTENTION_COMMAND,
            Self::Echo(_) => "ATE0",
            Self::ExternalTone(_) => "AT+CEXTERNTONE",
            Self::CallerId(_) => "AT+CLIP",
            Self::AutoAnswer(_) => "ATS0",
            Self::Volume(_) => "AT+CLVL",
            Self::ErrorReporting(_) => "AT+CMEE",
            Self::CallListReporting(_) => "AT+CLCC",
            Self::NewMessageIndication(_) => "AT+CNMI",
        }
    }
}

impl AtatCmd for InitCommand {
    type Response = NoResponse;

    fn write(&self, buf: &mut [u8]) -> usize {
        match self {
            Self::Attention(cmd) => cmd.write(buf),
            Self::Echo(cmd) => cmd.write(buf),
            Self::ExternalTone(cmd) => cmd.write(buf),
            Self::CallerId(cmd) => cmd.write(buf),
            Self::AutoAnswer(cmd) => cmd.write(buf),
            Self::Volume(cmd) => cmd.write(buf),
            Self::ErrorReporting(cmd) => cmd.write(buf),
            Self::CallListReporting(cmd) => cmd.write(buf),
            Self::NewMessageIndication(cmd) => cmd.write(buf),
        }
    }

    fn parse(
        &self,
        resp: Result<&[u8], atat::InternalError>,
    ) -> Result<Self::Response, atat::Error> {
        match self {
            Self::Attention(cmd) => cmd.parse(resp),
            Self::Echo(cmd) => cmd.parse(resp),
            Self::ExternalTone(cmd) => cmd.parse(resp),
            Self::CallerId(cmd) => cmd.parse(resp),
            Self::AutoAnswer(cmd) => cmd.parse(resp),
            Self::Volume(cmd) => cmd.parse(resp),
            Self::ErrorReporting(cmd) => cmd.parse(resp),
            Self::CallListReporting(cmd) => cmd.parse(resp),
            Self::NewMessageIndication(cmd) => cmd.parse(resp),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::audio::types::{ExternalTone, SpeakerVolume};
    use crate::command::call::types::{AutoAnswer, CallListReporting, CallerIdPresentation};
    use crate::command::general::types::{EchoMode, ErrorReporting};

    fn written(cmd: &impl AtatCmd) -> heapless::Vec<u8, 32> {
        let mut buf = [0u8; 32];
        let len = cmd.write(&mut buf);
        heapless::Vec::from_slice(buf.get(..len).unwrap_or_default()).unwrap_or_default()
    }

    #[test]
    fn each_init_command_writes_what_its_command_writes_under_its_name() {
        let volume = SpeakerVolume::new(5).unwrap();
        let clip = SetCallerIdPresentation {
            mode: CallerIdPresentation::Enabled,
        };
        let cases: [(InitCommand, &[u8]); 9] = [
            (InitCommand::Attention(Attention), b"AT\r"),
            (
                InitCommand::Echo(SetEcho {
                    mode: EchoMode::Off,
                }),
                b"ATE0\r",
            ),
            (
                InitCommand::ExternalTone(SetExternalTone {
                    mode: ExternalTone::On,
                }),
                b"AT+CEXTERNTONE=1\r",
            ),
            (InitCommand::CallerId(clip.clone()), b"AT+CLIP=1\r"),
            (
                InitCommand::AutoAnswer(SetAutoAnswer {
                    auto_answer: AutoAnswer::from_rings(3),
                }),
                b"ATS0=3\r",
            ),
            (
                InitCommand::Volume(SetSpeakerVolume { volume }),
                b"AT+CLVL=5\r",
            ),
            (
                InitCommand::ErrorReporting(SetErrorReporting {
                    mode: ErrorReporting::Numeric,
                }),
                b"AT+CMEE=1\r",
            ),
            (
                InitCommand::CallListReporting(SetCallListReporting {
                    mode: CallListReporting::Enabled,
                }),
                b"AT+CLCC=1\r",
            ),
            (
                InitCommand::NewMessageIndication(SetNewMessageIndication::store_and_notify()),
                b"AT+CNMI=2,1,0,0,0\r",
            ),
        ];
        for (cmd, wire) in &cases {
            assert_eq!(written(cmd).as_slice(), *wire);
            assert!(wire.starts_with(cmd.name().as_bytes()), "{}", cmd.name());
        }
        assert_eq!(
            written(&InitCommand::CallerId(clip.clone())),
            written(&clip)
        );
        // atat's client hands `parse` the reply, or the error result it read.
        let ok = InitCommand::Attention(Attention).parse(Ok(b"OK"));
        assert_eq!(ok, Ok(NoResponse));
        let refused = InitCommand::Attention(Attention).parse(Err(atat::InternalError::Error));
        assert!(matches!(refused, Err(atat::Error::Error)));
    }
}
