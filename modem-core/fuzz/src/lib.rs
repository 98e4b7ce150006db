//! Structured inputs for modem-core's fuzz targets.
//!
//! This crate owns the vocabulary the fuzzers speak: a modem session as a list of steps
//! (the host writes a command; the modem sends a known SIM7600 line in one of its framings,
//! or arbitrary bytes), each delivered in chunks the fuzzer picks.
//! Raw bytes alone rarely reach the digester's deeper states (a URC between a `+CMGR:`
//! header and its data, a prompt while a body is pending), so the steps mix real lines with
//! noise. The targets themselves live in `fuzz_targets/`.

use arbitrary::Arbitrary;

/// Commands whose kind changes how the digester reads the reply (`PendingCommand`).
pub const COMMANDS: [&[u8]; 14] = [
    b"AT\r",
    b"ATE0\r",
    b"AT+CGMI\r",
    b"AT+CSQ\r",
    b"AT+CLCC\r",
    b"AT+CPIN?\r",
    b"ATA\r",
    b"ATD+491761234567;\r",
    b"AT+CMGR=0\r",
    b"AT+CMGL=4\r",
    b"AT+CMGS=24\r",
    b"0001000B919471121432F7000009C8329BFD06DDDF72\x1a",
    b"0001000B919471121432F7\x1b",
    b"AT+CHUP\r",
];

/// Lines the SIM7600 sends: replies, final codes, every URC, echo and message data.
pub const LINES: [&[u8]; 40] = [
    b"OK",
    b"ERROR",
    b"+CME ERROR: 10",
    b"+CME ERROR: SIM not inserted",
    b"+CMS ERROR: 500",
    b"+CMS ERROR\xef\xbc\x9a340",
    b"+CME ERROR: something the manual never printed",
    b"NO CARRIER",
    b"BUSY",
    b"NO ANSWER",
    b"NO DIALTONE",
    b"RDY",
    b"+CPIN: READY",
    b"+CPIN: SIM REMOVED",
    b"SMS DONE",
    b"PB DONE",
    b"RING",
    b"+CRING: VOICE",
    b"+CLIP: \"+491761234567\",145,,,,0",
    b"+CLIP: \"02152063113\",128,,,\"gongsi\",0",
    b"+CLIP: \"\",128,,,,1",
    b"VOICE CALL: BEGIN",
    b"VOICE CALL: END: 000042",
    b"VOICE CALL:END:000017",
    b"MISSED_CALL: 11:01AM 07712345678",
    b"+CLCC: 1,1,4,0,0,\"+491761234567\",145",
    b"+CLCC: 1,1,6,0,0",
    b"+CMTI: \"SM\",0",
    b"+RXDTMF: 5",
    b"+RXDTMF: #",
    b"+CSQ: 16,99",
    b"SIMCOM INCORPORATED",
    b"SIMCOM_SIM7600G-H",
    b"+CMGR: 0,,30",
    b"07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07",
    b"+CMGL: 1,0,,30",
    b"+CMGS: 12",
    b"+CPMS: \"SM\",0,50,\"SM\",0,50,\"SM\",0,50",
    b"AT+CLCC",
    b"At home by 7",
];

/// How a line is framed on the wire.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Framing {
    /// `\r\n<line>\r\n`, the usual.
    CrLf,
    /// `\r\r\n<line>\r\r\n`, as `+CRING` and `+RXDTMF` arrive.
    CrCrLf,
    /// `<line>\r\n` with no leading line end.
    Trailing,
    /// `<line>\r`, as echo arrives.
    Echo,
}

/// One step of a session.
#[derive(Debug, Clone, Arbitrary)]
pub enum Step {
    /// The host writes one of [`COMMANDS`] (index modulo its length).
    Command(u8),
    /// The host writes arbitrary bytes as a command.
    RawCommand(Vec<u8>),
    /// The modem sends one of [`LINES`] (index modulo its length).
    Line(u8, Framing),
    /// The modem sends the `> ` prompt.
    Prompt,
    /// The modem sends arbitrary bytes.
    Noise(Vec<u8>),
    /// The modem sends one byte many times (a stuck line, a flood of line ends).
    Flood(u8, u16),
}

/// A session and the sizes of the reads that deliver it.
#[derive(Debug, Clone, Arbitrary)]
pub struct Session {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Read sizes, used in turn (0 counts as 1): what the port's reads return.
    pub chunks: Vec<u8>,
}

/// What the host side of a step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write these command bytes (tell the tracker).
    Write(Vec<u8>),
    /// Deliver these modem bytes.
    Receive(Vec<u8>),
}

impl Step {
    /// The step as bytes on the wire.
    pub fn action(&self) -> Action {
        match self {
            Step::Command(i) => Action::Write(pick(&COMMANDS, *i).to_vec()),
            Step::RawCommand(bytes) => Action::Write(bytes.clone()),
            Step::Line(i, framing) => {
                let line = pick(&LINES, *i);
                let (before, after): (&[u8], &[u8]) = match framing {
                    Framing::CrLf => (b"\r\n", b"\r\n"),
                    Framing::CrCrLf => (b"\r\r\n", b"\r\r\n"),
                    Framing::Trailing => (b"", b"\r\n"),
                    Framing::Echo => (b"", b"\r"),
                };
                Action::Receive([before, line, after].concat())
            }
            Step::Prompt => Action::Receive(b"\r\n> ".to_vec()),
            Step::Noise(bytes) => Action::Receive(bytes.clone()),
            // Up to 4 KiB: longer than the ingress buffer, so a stuck line overflows it.
            Step::Flood(byte, count) => Action::Receive(vec![*byte; usize::from(*count % 4096)]),
        }
    }
}

fn pick<'a>(list: &[&'a [u8]], index: u8) -> &'a [u8] {
    list.get(usize::from(index) % list.len().max(1))
        .copied()
        .unwrap_or_default()
}

/// The largest read [`reads`] makes: a port read on the host returns at most a few hundred
/// bytes.
pub const MAX_READ: usize = 255;

/// Splits `bytes` into reads of the sizes in `chunks`, taken in turn from `*next` (64 bytes
/// each when `chunks` is empty).
pub fn reads<'b>(bytes: &'b [u8], chunks: &[u8], next: &mut usize) -> Vec<&'b [u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let size = if chunks.is_empty() {
            64
        } else {
            let size = chunks.get(*next % chunks.len()).copied().unwrap_or(1);
            *next += 1;
            usize::from(size.max(1))
        };
        let (now, later) = rest.split_at(size.min(rest.len()));
        out.push(now);
        rest = later;
    }
    out
}
