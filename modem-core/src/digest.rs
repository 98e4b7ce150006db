//! Cutting the SIM7600's byte stream into responses, URCs and prompts for atat.
//!
//! This module owns [`Sim7600Digester`], the [`atat::Digester`] that replaces atat's
//! `AtDigester` for this modem, and [`CommandTracker`] / [`TrackedWriter`], the small piece
//! of shared state that tells the digester which command is in flight.
//!
//! Why not `AtDigester` (ATAT-NOTES.md, verified against atat 0.25): calls ring at any
//! moment, and `AtDigester` loses the reply or the URCs when `RING`/`+CLIP` arrive between a
//! reply's text and its `OK`; it takes bare-word URCs for echo (atat #219); it sees `> ` only
//! as the last thing in its buffer (#232); and it cannot tell the `AT+CLCC` list from the
//! `+CLCC` URC, or the `AT+CPIN?` reply from the `+CPIN` URC (#179, #223).
//!
//! How this digester works, line by line (`\r\n` and `\r\r\n` framing alike):
//! - A URC line before a reply is handed out at once. A URC line inside a reply (after its
//!   first text line, before its final result code) is handed out as well, and the reply's
//!   text stays in the buffer until its final code arrives; atat's `Digester` can only
//!   consume the front of the buffer, so when the final code arrives the reply is signalled
//!   first and the URCs that were not yet handed out follow. The reply passed to the command
//!   is the span from its first to its last text line: for a one-line reply (the usual
//!   case) that is exactly the line; a multi-line reply with a URC between two of its lines
//!   carries that URC line too, and the multi-line parsers in `crate::command` skip URC lines.
//! - Echo (`AT...` up to `\r`, no space, in capitals or in the lower or mixed case a person
//!   types; or a message body ending in 0x1A) is dropped and also tells the digester which
//!   command runs.
//! - Final codes: `OK`, `ERROR`, `+CME ERROR: <n|text>`, `+CMS ERROR: <n|text>` (also with
//!   the full-width colon the manual prints once). Text errors that 27.007/27.005 list map
//!   to their numeric `CmeError`/`CmsError` in any letter case (`operation not allowed`,
//!   `SIM PIN REQUIRED`); other texts become `InternalError::Custom(<the whole line>)`.
//! - `NO CARRIER`, `BUSY`, `NO ANSWER` are URCs (a call ended), except while `ATA`/`ATD`
//!   is in flight, where they are that command's error (`ConnectionError`).
//! - `> ` at the start of a line is the `AT+CMGS` prompt, whatever follows it.
//! - The line after a `+CMGR:`/`+CMGL:` header is message data, never a URC or final code
//!   (an SMS that reads `RING` or `OK` stays an SMS); later lines of a multi-line text are
//!   never echo, but one that reads exactly like a final code (`OK`) or a URC is taken as
//!   one: the SIM7600 does not mark where a text-mode message ends (PDU mode, which the
//!   driver and smstools use, has one hex line and no such ambiguity).
//! - A URC inside a held reply counts as handed out only once atat has published it: with
//!   [`IngressNotices`] the ingress reports a URC it could not publish (full channel), and
//!   the digester returns it again on the next call; it also reports a cleared buffer, and
//!   the digester then starts afresh. No URC is lost to back-pressure.
//! - A line longer than [`MAX_LINE_LEN`], or a reply longer than [`MAX_RESPONSE_LEN`], ends
//!   the command in flight with `InternalError::Capacity`; the digester drops bytes up to
//!   the next line end and carries on, so the next command works.
//!
//! Which command is in flight: atat's `Digester` trait has no notion of it, and the bytes
//! alone cannot tell `+CLCC: 1,1,4,...` (a reply to `AT+CLCC`) from the same line sent on its
//! own after `AT+CLCC=1` once echo is off (the init sequence sends `ATE0`). So the writer
//! that atat's client writes through is wrapped in a [`TrackedWriter`], which records in a
//! [`CommandTracker`] what kind of command it has just written ([`PendingCommand`]); the
//! digester reads that, and clears it when the command's final code or prompt arrives. This
//! is exact (it is what was written, not a guess from timing) and needs nothing from the
//! driver. Without a tracker ([`Sim7600Digester::new`]) the digester still works, but
//! `+CLCC`/`+CPIN` lines are always URCs, `NO CARRIER` never ends `ATA`, and stray text
//! lines are held for the next reply as atat does; with echo on, the echo gives the same
//! knowledge as the tracker.

use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use atat::{CmeError, CmsError, ConnectionError, DigestResult, InternalError};
use heapless::Vec;

use crate::error_text::{cme_code, cms_code};
use crate::fmt::LossyBytes;
use crate::line::error_line;
use crate::urc::urc_name;

/// The longest line the digester accepts, in bytes without its line end (`\r\n` or
/// `\r\r\n`).
///
/// The longest line the SIM7600 sends in this dialogue is a PDU-mode `AT+CMGR` message:
/// at most 175 octets (12 SMSC + 163 TPDU), that is 350 hex digits; a text-mode message in
/// UCS-2 hex is at most 280. 512 leaves room and keeps a stuck line from filling the buffer.
pub const MAX_LINE_LEN: usize = 512;

/// The longest reply (from its first text line to its final code) the digester holds.
///
/// `AT+CMGR` in PDU mode (header, 350 hex digits, `OK`) is under 400 bytes; seven `+CLCC`
/// lines are under 500. A reply that grows past this ends its command with a capacity error.
pub const MAX_RESPONSE_LEN: usize = 1024;

/// The ingress buffer size the digester needs: a whole held reply, one line being received
/// with the `\r\r` of its line end, and the one byte more that shows the line is too long.
/// Give `atat::Ingress` at least this much (and its `ResponseSlot` at least
/// [`MAX_RESPONSE_LEN`]), so the buffer never fills before the digester has decided: a full
/// buffer makes atat drop bytes (`try_write`) or clear the buffer (`read_from`).
pub const INGRESS_BUF_SIZE: usize = MAX_RESPONSE_LEN + MAX_LINE_LEN + 3;

/// How many URC lines one reply may enclose (between its first text line and its final
/// code). A call rings with two (`RING`, `+CLIP`) every 3 s and a reply takes milliseconds,
/// so 8 is ample; further ones are logged and dropped.
pub const MAX_INTERLEAVED_URCS: usize = 8;

/// What kind of command is in flight, as far as the digester needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[repr(u8)]
pub enum PendingCommand {
    /// Nothing in flight: a text line now is unsolicited and is dropped.
    Idle = 0,
    /// A command whose reply needs no special rule.
    Other = 1,
    /// `AT+CLCC`: `+CLCC` lines are the call list, not URCs.
    ListCalls = 2,
    /// `AT+CPIN?`: the `+CPIN` line is the reply, not a URC.
    SimStatus = 3,
    /// `ATA` or `ATD...`: `NO CARRIER`, `BUSY`, `NO ANSWER` end this command.
    CallSetup = 4,
    /// `AT+CMGR` / `AT+CMGL`: the line after each header is message data.
    ReadMessage = 5,
    /// `AT+CMGS=...`: waits for the `> ` prompt.
    SendMessage = 6,
    /// A message body ending in 0x1A (send) or 0x1B (cancel): its echo is dropped.
    MessageBody = 7,
}

impl PendingCommand {
    const ALL: [Self; 8] = [
        Self::Idle,
        Self::Other,
        Self::ListCalls,
        Self::SimStatus,
        Self::CallSetup,
        Self::ReadMessage,
        Self::SendMessage,
        Self::MessageBody,
    ];

    /// Classifies the bytes of a command as written to the modem (`AT+CLCC\r`, a body
    /// ending in 0x1A, ...).
    pub fn of_command(bytes: &[u8]) -> Self {
        if bytes.iter().any(|&b| b == 0x1a || b == 0x1b) {
            return Self::MessageBody;
        }
        let line = bytes.trim_ascii();
        let is = |cmd: &[u8]| line.eq_ignore_ascii_case(cmd);
        let starts = |cmd: &[u8]| {
            line.get(..cmd.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(cmd))
        };
        if is(b"AT+CLCC") {
            Self::ListCalls
        } else if is(b"AT+CPIN?") {
            Self::SimStatus
        } else if is(b"ATA") || starts(b"ATD") {
            Self::CallSetup
        } else if starts(b"AT+CMGR=") || starts(b"AT+CMGL") {
            Self::ReadMessage
        } else if starts(b"AT+CMGS=") {
            Self::SendMessage
        } else {
            Self::Other
        }
    }

    fn from_u8(value: u8) -> Self {
        Self::ALL
            .get(usize::from(value))
            .copied()
            .unwrap_or(Self::Other)
    }
}

/// Which command is in flight, shared by a [`TrackedWriter`] (which sets it) and a
/// [`Sim7600Digester`] (which reads and clears it).
///
/// Lock-free (one atomic byte, loads and stores only, so it works on cores without
/// compare-and-swap); `const fn new` lets an MCU keep it in a `static`.
#[derive(Debug)]
pub struct CommandTracker {
    pending: AtomicU8,
}

impl CommandTracker {
    /// A tracker with nothing in flight.
    pub const fn new() -> Self {
        Self {
            pending: AtomicU8::new(PendingCommand::Idle as u8),
        }
    }

    /// Records that `bytes` (one whole command) were written to the modem.
    pub fn command_sent(&self, bytes: &[u8]) {
        self.set(PendingCommand::of_command(bytes));
    }

    /// Records a pending command directly (for writers that are not a [`TrackedWriter`]).
    pub fn set(&self, pending: PendingCommand) {
        self.pending.store(pending as u8, Ordering::Release);
    }

    /// The command in flight.
    pub fn pending(&self) -> PendingCommand {
        PendingCommand::from_u8(self.pending.load(Ordering::Acquire))
    }

    /// Marks the command as finished (its final code or prompt arrived).
    pub fn finish(&self) {
        self.set(PendingCommand::Idle);
    }
}

impl Default for CommandTracker {
    fn default() -> Self {
        Self::new()
    }
}

/// What the ingress did with the digester's results where its buffer cannot show it, told
/// by the ingress (the driver's `ModemIngress` does it) and read by a [`Sim7600Digester`].
///
/// atat's `Ingress` calls the digester, acts on the result, and says nothing back. Two of
/// its actions leave the digester's bookkeeping wrong unless it is told:
/// - `try_advance` returns `Err(UrcChannelFull)` without consuming anything when the URC
///   the digester returned found the channel full: the digester must return the same URC
///   again on the next call, not the one after it ([`urc_refused`](Self::urc_refused)).
/// - `clear` throws the buffer away: offsets the digester holds into it (a reply in
///   progress, URCs inside it, a line being dropped) no longer mean anything
///   ([`buffer_cleared`](Self::buffer_cleared)).
///
/// Two atomic flags (loads and stores only, like [`CommandTracker`]); `const fn new` lets an
/// MCU keep it in a `static`.
#[derive(Debug)]
pub struct IngressNotices {
    cleared: AtomicBool,
    urc_refused: AtomicBool,
}

impl IngressNotices {
    /// No notice pending.
    pub const fn new() -> Self {
        Self {
            cleared: AtomicBool::new(false),
            urc_refused: AtomicBool::new(false),
        }
    }

    /// The ingress threw its buffer away: the digester starts afresh on its next call (the
    /// command in flight stays in flight).
    pub fn buffer_cleared(&self) {
        self.cleared.store(true, Ordering::Release);
    }

    /// The ingress could not publish the URC the digester returned last (the URC channel
    /// was full): the digester returns that URC again on its next call.
    pub fn urc_refused(&self) {
        self.urc_refused.store(true, Ordering::Release);
    }

    /// Reads and resets a flag. The ingress and its digester run on one thread of control
    /// (the digester is called from inside the ingress), so a load and a store cannot race
    /// with a new notice.
    fn take(flag: &AtomicBool) -> bool {
        let set = flag.load(Ordering::Acquire);
        if set {
            flag.store(false, Ordering::Release);
        }
        set
    }
}

impl Default for IngressNotices {
    fn default() -> Self {
        Self::new()
    }
}

/// A writer that tells a [`CommandTracker`] what each command it writes is.
///
/// Wrap the port's writer in it before handing it to `atat::asynch::Client::new`. A
/// command starts with the first write after the previous one ended in `\r`, 0x1A or 0x1B,
/// so a command split over several `write` calls is classified once, by its start.
#[derive(Debug)]
pub struct TrackedWriter<'a, W> {
    inner: W,
    tracker: &'a CommandTracker,
    at_command_start: bool,
}

impl<'a, W> TrackedWriter<'a, W> {
    /// Wraps `inner`; `tracker` must be the one given to the digester.
    pub fn new(inner: W, tracker: &'a CommandTracker) -> Self {
        Self {
            inner,
            tracker,
            at_command_start: true,
        }
    }

    /// The wrapped writer.
    pub fn inner_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Unwraps the writer.
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// Records the start of a command before its bytes leave, so the digester knows the
    /// command before any reply can arrive.
    fn note_start(&mut self, buf: &[u8]) {
        if self.at_command_start && !buf.is_empty() {
            self.tracker.command_sent(buf);
            self.at_command_start = false;
        }
    }

    /// The next write starts a command when what was written ended one.
    fn note_end(&mut self, written: Option<&[u8]>) {
        self.at_command_start = matches!(written.and_then(<[u8]>::last), Some(b'\r' | 0x1a | 0x1b));
    }
}

impl<W: embedded_io::ErrorType> embedded_io::ErrorType for TrackedWriter<'_, W> {
    type Error = W::Error;
}

impl<W: embedded_io_async::Write> embedded_io_async::Write for TrackedWriter<'_, W> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.note_start(buf);
        let written = self.inner.write(buf).await?;
        self.note_end(buf.get(..written));
        Ok(written)
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush().await
    }
}

impl<W: embedded_io::Write> embedded_io::Write for TrackedWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.note_start(buf);
        let written = self.inner.write(buf)?;
        self.note_end(buf.get(..written));
        Ok(written)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush()
    }
}

/// A final result code, or a call result that ends a call-setup command.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Final<'a> {
    Ok,
    Error(InternalError<'a>),
    /// `NO CARRIER`, `BUSY`, `NO ANSWER`: final only while a call is being set up.
    CallResult(ConnectionError),
}

/// Recognises a final result code in a trimmed line.
fn final_code(line: &[u8]) -> Option<Final<'_>> {
    match line {
        b"OK" => return Some(Final::Ok),
        b"ERROR" => return Some(Final::Error(InternalError::Error)),
        b"NO CARRIER" => return Some(Final::CallResult(ConnectionError::NoCarrier)),
        b"BUSY" => return Some(Final::CallResult(ConnectionError::Busy)),
        b"NO ANSWER" => return Some(Final::CallResult(ConnectionError::NoAnswer)),
        b"NO DIALTONE" => return Some(Final::CallResult(ConnectionError::NoDialtone)),
        _ => {}
    }
    let (cme, detail) = error_line(line)?;
    let error = if let Ok(code) = detail.parse::<u16>() {
        if cme {
            InternalError::CmeError(CmeError::from(code))
        } else {
            InternalError::CmsError(CmsError::from(code))
        }
    } else if cme {
        // Not atat's `from_msg`: it compares a few capitalised texts exactly, and the
        // SIM7600 words its errors in lower case.
        match cme_code(detail) {
            Some(code) => InternalError::CmeError(CmeError::from(code)),
            None => InternalError::Custom(line),
        }
    } else {
        match cms_code(detail) {
            Some(code) => InternalError::CmsError(CmsError::from(code)),
            None => InternalError::Custom(line),
        }
    };
    Some(Final::Error(error))
}

/// A line's length without the `\r`s of its line end.
fn content_len(line: &[u8]) -> usize {
    line.iter()
        .rposition(|&b| b != b'\r')
        .map_or(0, |last| last + 1)
}

/// Whether a trimmed line reads like the modem's echo of a command, or a message body
/// ending in 0x1A/0x1B.
///
/// The modem echoes what it was sent, in the case it was sent: the driver sends capitals,
/// a person at a terminal often does not (`at+simcomati`, `ata` in public captures). So a
/// line is echo when it starts with `AT` in any case, has no space (no command here has
/// one), and, unless `AT` is in capitals, goes on the way a command does: nothing, an
/// extended command (`+`, `&`, `$`, `^`, `#`, `*`), `D` and a dial string, or one basic
/// command letter followed by no further letter (`ata`, `ate0`, `ats0=1`). This keeps SMS
/// text such as `At home`, `AT 5 PM` or `attention` from being taken for echo.
pub(crate) fn looks_like_echo(line: &[u8]) -> bool {
    if line.iter().any(|&b| b == 0x1a || b == 0x1b) {
        return true;
    }
    if line.contains(&b' ') {
        return false;
    }
    if line.starts_with(b"AT") {
        return true;
    }
    let Some((head, rest)) = line.split_at_checked(2) else {
        return false;
    };
    if !head.eq_ignore_ascii_case(b"AT") {
        return false;
    }
    match rest.split_first() {
        None => true,
        Some((b'+' | b'&' | b'$' | b'^' | b'#' | b'*', _)) => true,
        Some((b'd' | b'D', _)) => true,
        Some((letter, after)) => {
            b"aehilmoqsvxzAEHILMOQSVXZ".contains(letter)
                && !after.iter().any(u8::is_ascii_alphabetic)
        }
    }
}

/// A span `start..end` of the ingress buffer.
type Span = (usize, usize);

/// The [`atat::Digester`] for the SIM7600 (see the module documentation for its rules).
#[derive(Debug)]
pub struct Sim7600Digester<'a> {
    tracker: Option<&'a CommandTracker>,
    notices: Option<&'a IngressNotices>,
    /// The command named by the last echo, until its final code.
    echoed: Option<PendingCommand>,
    /// Bytes at the buffer's start already classified as part of the reply in progress.
    held: usize,
    /// The reply's text, first text line's start to last text line's end.
    text: Option<Span>,
    /// URC lines inside the held reply, in order.
    urcs: Vec<Span, MAX_INTERLEAVED_URCS>,
    /// How many of `urcs` atat has taken.
    emitted: usize,
    /// A URC of `urcs` was returned with this many bytes to swallow, and atat has not yet
    /// shown whether it took it: it counts as taken (and the offsets move) at the next call,
    /// unless the ingress tells of a full URC channel, in which case it is returned again.
    handed_out: Option<usize>,
    /// The next line is message data (it follows a `+CMGR:`/`+CMGL:` header).
    expect_body: bool,
    /// After a reply was signalled: the end of its final code, up to which the held lines
    /// are dropped (URCs not yet handed out are handed out first).
    drain_to: Option<usize>,
    /// An over-long line is being dropped up to its line end.
    discarding: bool,
}

impl Default for Sim7600Digester<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Sim7600Digester<'a> {
    /// A digester without a [`CommandTracker`] (see the module documentation for what it
    /// cannot tell then).
    pub const fn new() -> Self {
        Self {
            tracker: None,
            notices: None,
            echoed: None,
            held: 0,
            text: None,
            urcs: Vec::new(),
            emitted: 0,
            handed_out: None,
            expect_body: false,
            drain_to: None,
            discarding: false,
        }
    }

    /// A digester that knows the command in flight from `tracker`, which the port's writer
    /// updates through a [`TrackedWriter`].
    pub const fn with_tracker(tracker: &'a CommandTracker) -> Self {
        let mut digester = Self::new();
        digester.tracker = Some(tracker);
        digester
    }

    /// The same digester, told by its ingress through `notices` when a URC it returned
    /// found the channel full and when the buffer was cleared (see [`IngressNotices`]). The
    /// driver's `ModemIngress` wires this up; without notices, every URC returned counts as
    /// published, which holds for atat's async `advance` (it waits for room) but not for
    /// `try_advance`/`try_write` on a full channel.
    #[must_use]
    pub const fn with_notices(mut self, notices: &'a IngressNotices) -> Self {
        self.notices = Some(notices);
        self
    }

    /// The command in flight: from the echo if there was one, else from the tracker;
    /// `None` when nothing tells.
    fn pending(&self) -> Option<PendingCommand> {
        self.echoed
            .or_else(|| self.tracker.map(CommandTracker::pending))
    }

    fn finish_command(&mut self) {
        self.echoed = None;
        if let Some(tracker) = self.tracker {
            tracker.finish();
        }
    }

    /// Forgets the held reply (not the command in flight).
    fn reset_reply(&mut self) {
        self.held = 0;
        self.text = None;
        self.urcs.clear();
        self.emitted = 0;
        self.handed_out = None;
        self.expect_body = false;
        self.drain_to = None;
    }

    /// Settles what atat did since the last call: a buffer it cleared, a URC it could or
    /// could not publish.
    fn catch_up(&mut self, buf_len: usize) {
        if let Some(notices) = self.notices {
            if IngressNotices::take(&notices.cleared) {
                debug!("SIM7600 digester: ingress buffer cleared, starting afresh");
                self.reset_reply();
                self.discarding = false;
                IngressNotices::take(&notices.urc_refused);
            } else if IngressNotices::take(&notices.urc_refused) {
                // Nothing was consumed: the same URC is returned again.
                self.handed_out = None;
            }
        }
        if let Some(swallowed) = self.handed_out.take() {
            self.emitted += 1;
            self.consume(swallowed);
        }
        // atat's async reader also clears its buffer when it fills up or a read fails; a
        // digester without notices is not told, but offsets beyond the buffer show it.
        if self.held > buf_len || self.drain_to.is_some_and(|end| end > buf_len) {
            self.reset_reply();
        }
    }

    /// Moves every remembered offset by the `n` bytes the ingress drops.
    fn consume(&mut self, n: usize) -> usize {
        let shift = |x: usize| x.saturating_sub(n);
        self.held = shift(self.held);
        self.text = self.text.map(|(a, b)| (shift(a), shift(b)));
        for span in self.urcs.iter_mut() {
            *span = (shift(span.0), shift(span.1));
        }
        self.drain_to = self.drain_to.map(shift);
        n
    }

    /// The next URC inside the held reply that was not handed out yet.
    fn next_unemitted(&self) -> Option<Span> {
        self.urcs.get(self.emitted).copied()
    }

    fn capacity_error<'b>(&mut self, what: &str, swallow: usize) -> (DigestResult<'b>, usize) {
        warn!(
            "SIM7600 digester: {} too long, failing the command in flight",
            what
        );
        self.reset_reply();
        self.finish_command();
        (
            DigestResult::Response(Err(InternalError::Capacity)),
            swallow,
        )
    }

    fn digest_inner<'b>(&mut self, buf: &'b [u8]) -> (DigestResult<'b>, usize) {
        self.catch_up(buf.len());

        if self.discarding {
            return match buf.iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    self.discarding = false;
                    (DigestResult::None, nl + 1)
                }
                None => (DigestResult::None, buf.len()),
            };
        }

        if let Some(end) = self.drain_to {
            if let Some((start, stop)) = self.next_unemitted() {
                self.handed_out = Some(stop);
                let line = buf.get(start..stop).unwrap_or_default();
                return (DigestResult::Urc(line), stop);
            }
            self.reset_reply();
            return (DigestResult::None, end);
        }

        let mut pos = self.held;
        loop {
            // Checked on every turn, because blank lines and URC lines inside a reply make
            // it grow too.
            if self.held > MAX_RESPONSE_LEN {
                return self.capacity_error("reply", self.held);
            }
            let rest = buf.get(pos..).unwrap_or_default();

            // The prompt has no line end; it stands at the start of a line. Only AT+CMGS
            // asks for it, and a message line that starts with "> " is message data.
            let prompt_expected =
                matches!(self.pending(), None | Some(PendingCommand::SendMessage));
            if prompt_expected && !self.expect_body && (rest.starts_with(b"> ") || rest == b">") {
                let end = pos + rest.len().min(2);
                self.reset_reply();
                if let Some(tracker) = self.tracker {
                    tracker.finish();
                }
                self.echoed = None;
                return (DigestResult::Prompt(b'>'), end);
            }

            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                if content_len(rest) > MAX_LINE_LEN || rest.len() > MAX_LINE_LEN + 2 {
                    self.discarding = true;
                    return self.capacity_error("line", buf.len());
                }
                // Waiting for more bytes: hand out a URC inside the reply now rather than
                // when the final code arrives. Consuming nothing ends atat's loop, which is
                // right here because nothing else in the buffer is complete.
                if let Some((start, stop)) = self.next_unemitted() {
                    self.handed_out = Some(0);
                    return (
                        DigestResult::Urc(buf.get(start..stop).unwrap_or_default()),
                        0,
                    );
                }
                return (DigestResult::None, 0);
            };
            let line_end = pos + nl + 1;
            let raw = rest.get(..nl).unwrap_or_default();
            let line = raw.trim_ascii();
            let start = pos + (raw.len() - raw.trim_ascii_start().len());
            let span = (start, start + line.len());

            if content_len(raw) > MAX_LINE_LEN {
                return self.capacity_error("line", line_end);
            }

            if self.expect_body {
                // Message data: taken as text whatever it reads like, even when empty.
                self.expect_body = false;
                self.add_text(span);
                pos = line_end;
                self.held = pos;
                continue;
            }

            if line.is_empty() {
                if self.held == 0 {
                    return (DigestResult::None, line_end);
                }
                pos = line_end;
                self.held = pos;
                continue;
            }

            let pending = self.pending();

            // Inside a message read, a later line is message text, never echo.
            let in_message = self.text.is_some() && pending == Some(PendingCommand::ReadMessage);
            if !in_message && looks_like_echo(line) {
                if self.text.is_some() {
                    warn!(
                        "SIM7600 digester: new command echoed before the last reply ended; dropping {}",
                        LossyBytes(buf.get(..self.held).unwrap_or_default())
                    );
                }
                self.reset_reply();
                if !line.contains(&0x1a) && !line.contains(&0x1b) {
                    self.echoed = Some(PendingCommand::of_command(line));
                }
                return (DigestResult::None, line_end);
            }

            let result = match final_code(line) {
                Some(Final::CallResult(_)) if pending != Some(PendingCommand::CallSetup) => None,
                Some(Final::CallResult(error)) => Some(Err(InternalError::ConnectionError(error))),
                Some(Final::Ok) => Some(Ok(match self.text {
                    Some((a, b)) => buf.get(a..b).unwrap_or_default(),
                    None => &[][..],
                })),
                Some(Final::Error(error)) => Some(Err(error)),
                None => None,
            };
            if let Some(result) = result {
                self.finish_command();
                let swallow = match self.next_unemitted() {
                    Some((urc_start, _)) if urc_start > 0 => {
                        self.drain_to = Some(line_end);
                        self.held = 0;
                        self.text = None;
                        urc_start
                    }
                    _ => {
                        self.reset_reply();
                        line_end
                    }
                };
                return (DigestResult::Response(result), self.consume(swallow));
            }

            let reply_line = match pending {
                Some(PendingCommand::ListCalls) => line.starts_with(b"+CLCC"),
                Some(PendingCommand::SimStatus) => line.starts_with(b"+CPIN"),
                _ => false,
            };
            if !reply_line && urc_name(line).is_some() {
                if self.held == 0 {
                    return (DigestResult::Urc(line), line_end);
                }
                if self.urcs.push(span).is_err() {
                    error!(
                        "SIM7600 digester: more than {} URCs inside one reply; dropping {}",
                        MAX_INTERLEAVED_URCS,
                        LossyBytes(line)
                    );
                }
                pos = line_end;
                self.held = pos;
                continue;
            }

            if self.held == 0 && pending == Some(PendingCommand::Idle) {
                warn!(
                    "SIM7600 digester: unsolicited line with no command in flight: {}",
                    LossyBytes(line)
                );
                return (DigestResult::None, line_end);
            }

            self.add_text(span);
            if line.starts_with(b"+CMGR:") || line.starts_with(b"+CMGL:") {
                self.expect_body = true;
            }
            pos = line_end;
            self.held = pos;
        }
    }

    fn add_text(&mut self, span: Span) {
        self.text = Some(match self.text {
            Some((first, _)) => (first, span.1),
            None => span,
        });
    }
}

impl atat::Digester for Sim7600Digester<'_> {
    fn digest<'b>(&mut self, buf: &'b [u8]) -> (DigestResult<'b>, usize) {
        let (result, swallowed) = self.digest_inner(buf);
        // atat copies within its buffer by this count: never claim more than was given.
        (result, swallowed.min(buf.len()))
    }
}
