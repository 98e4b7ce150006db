//! The simulator's own SMS PDU codec (3GPP TS 23.040 / 23.038).
//!
//! It owns exactly what a modem needs and nothing more: decoding the SMS-SUBMIT PDUs a host
//! sends with `AT+CMGS=<len>` (GSM 7-bit with the extension table, 8-bit, UCS-2, and the
//! concatenation headers of long messages), and encoding the SMS-DELIVER PDUs the
//! simulator stores on its SIM. It is written independently of modem-core on purpose: the
//! driver and the simulator must not be able to share a mistake.

use std::fmt::Write as _;

/// The longest text, in septets, that fits one GSM 7-bit SMS without a user data header.
pub const SEPTETS_SINGLE: usize = 160;
/// Septets per part of a concatenated GSM 7-bit SMS (the 6-octet header takes 7 septets).
pub const SEPTETS_PER_PART: usize = 153;
/// UTF-16 units that fit one UCS-2 SMS without a user data header.
pub const UCS2_SINGLE: usize = 70;
/// UTF-16 units per part of a concatenated UCS-2 SMS.
pub const UCS2_PER_PART: usize = 67;
/// The most octets a TPDU may have (a 140-octet user data plus headers).
pub const MAX_TPDU_OCTETS: usize = 176;

/// The GSM 03.38 default alphabet, indexed by septet value.
const GSM_DEFAULT: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1b}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The extension table: septet after the escape 0x1B, and the character it stands for.
const GSM_EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{c}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// Why a PDU could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    /// The text is not an even number of hex digits.
    #[error("the PDU is not hex: {0}")]
    NotHex(String),
    /// The PDU ended in the middle of the named field.
    #[error("the PDU ends inside the {0}")]
    Truncated(&'static str),
    /// `AT+CMGS=<len>` announced a TPDU length the PDU does not have.
    #[error("AT+CMGS announced {declared} TPDU octets but the PDU has {actual}")]
    LengthMismatch {
        /// What the host announced.
        declared: usize,
        /// What the PDU holds after the SMSC part.
        actual: usize,
    },
    /// The message type indicator is not the one expected.
    #[error("expected an {expected}, got message type indicator {mti}")]
    WrongType {
        /// SMS-SUBMIT or SMS-DELIVER.
        expected: &'static str,
        /// The two low bits of the first octet.
        mti: u8,
    },
    /// The data coding scheme is one this codec does not read (compressed, reserved).
    #[error("unsupported data coding scheme 0x{0:02X}")]
    UnsupportedDcs(u8),
    /// UCS-2 text that is not valid UTF-16.
    #[error("the UCS-2 text is not valid UTF-16")]
    BadUcs2,
}

/// The alphabet a message is coded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Alphabet {
    /// GSM 03.38 default alphabet, 7-bit packed.
    Gsm7,
    /// 8-bit data (shown as Latin-1 here).
    Eight,
    /// UCS-2 (UTF-16 big-endian).
    Ucs2,
}

/// The concatenation header of one part of a long message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Concat {
    /// The reference shared by every part of the message.
    pub reference: u16,
    /// How many parts the message has.
    pub total: u8,
    /// Which part this is, from 1.
    pub sequence: u8,
}

/// A decoded SMS-SUBMIT (what a host sends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submit {
    /// The recipient as dialled, `+` in front when the type of number is international.
    pub number: String,
    /// The text of this part.
    pub text: String,
    /// The alphabet it was coded in.
    pub alphabet: Alphabet,
    /// Present when this is one part of a concatenated message.
    pub concat: Option<Concat>,
    /// The message reference the host chose.
    pub message_reference: u8,
    /// TP-SRR: the host asked for a status report.
    pub status_report_requested: bool,
}

/// A decoded SMS-DELIVER (what the simulator stores), used by tests and `state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deliver {
    /// The service centre address, if the PDU carries one.
    pub smsc: Option<String>,
    /// The originator, `+` in front when international.
    pub originator: String,
    /// The text of this part.
    pub text: String,
    /// The alphabet it was coded in.
    pub alphabet: Alphabet,
    /// Present when this is one part of a concatenated message.
    pub concat: Option<Concat>,
    /// The service centre time stamp, as `yy/MM/dd,hh:mm:ss+zz`.
    pub timestamp: String,
}

/// A calendar time in UTC, as an SMS time stamp carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsTime {
    /// Full year, e.g. 2026.
    pub year: u16,
    /// 1..=12.
    pub month: u8,
    /// 1..=31.
    pub day: u8,
    /// 0..=23.
    pub hour: u8,
    /// 0..=59.
    pub minute: u8,
    /// 0..=59.
    pub second: u8,
}

impl SmsTime {
    /// The UTC calendar time of `t`.
    pub fn from_system(t: std::time::SystemTime) -> SmsTime {
        let secs = t
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let days = i64::try_from(secs / 86_400).unwrap_or(0);
        let rem = secs % 86_400;
        // Howard Hinnant's civil_from_days: exact for every day since 1970.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        SmsTime {
            year: u16::try_from(year).unwrap_or(1970),
            month: u8::try_from(month).unwrap_or(1),
            day: u8::try_from(day).unwrap_or(1),
            hour: u8::try_from(rem / 3600).unwrap_or(0),
            minute: u8::try_from(rem % 3600 / 60).unwrap_or(0),
            second: u8::try_from(rem % 60).unwrap_or(0),
        }
    }

    /// The current UTC time.
    pub fn now() -> SmsTime {
        SmsTime::from_system(std::time::SystemTime::now())
    }

    /// `yy/MM/dd,hh:mm:ss+00`, the form text-mode `+CMGR` shows.
    pub fn text_mode(&self) -> String {
        format!(
            "{:02}/{:02}/{:02},{:02}:{:02}:{:02}+00",
            self.year % 100,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second
        )
    }

    /// `YYYY-MM-DDThh:mm:ss`, for transcripts and JSON.
    pub fn iso(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    fn octets(&self) -> [u8; 7] {
        let swap = |v: u8| ((v % 10) << 4) | (v / 10);
        [
            swap(u8::try_from(self.year % 100).unwrap_or(0)),
            swap(self.month),
            swap(self.day),
            swap(self.hour),
            swap(self.minute),
            swap(self.second),
            0x00,
        ]
    }
}

/// One encoded SMS-DELIVER: the hex a `+CMGR` shows and the TPDU length it announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedDeliver {
    /// The whole PDU (SMSC part included) in upper-case hex.
    pub hex: String,
    /// Octets after the SMSC part, the `<length>` of `+CMGR: <stat>,,<length>`.
    pub tpdu_len: usize,
    /// The text of this part.
    pub text: String,
    /// The concatenation header, if the message needed more than one part.
    pub concat: Option<Concat>,
}

fn gsm_septets(c: char) -> Option<Vec<u8>> {
    if let Some(i) = GSM_DEFAULT.iter().position(|&g| g == c && c != '\u{1b}') {
        return u8::try_from(i).ok().map(|s| vec![s]);
    }
    GSM_EXTENSION
        .iter()
        .find(|(_, g)| *g == c)
        .map(|(s, _)| vec![0x1B, *s])
}

/// Whether every character of `text` has a GSM 7-bit code (default or extension table).
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| gsm_septets(c).is_some())
}

/// Splits `text` into the parts an SMS needs, choosing GSM 7-bit when it can.
pub fn split_text(text: &str) -> (Alphabet, Vec<String>) {
    if is_gsm7(text) {
        let septets: usize = text
            .chars()
            .map(|c| gsm_septets(c).map_or(0, |s| s.len()))
            .sum();
        if septets <= SEPTETS_SINGLE {
            return (Alphabet::Gsm7, vec![text.to_string()]);
        }
        let mut parts = Vec::new();
        let mut current = String::new();
        let mut used = 0;
        for c in text.chars() {
            let n = gsm_septets(c).map_or(0, |s| s.len());
            if used + n > SEPTETS_PER_PART {
                parts.push(std::mem::take(&mut current));
                used = 0;
            }
            current.push(c);
            used += n;
        }
        parts.push(current);
        (Alphabet::Gsm7, parts)
    } else {
        let units: usize = text.chars().map(char::len_utf16).sum();
        if units <= UCS2_SINGLE {
            return (Alphabet::Ucs2, vec![text.to_string()]);
        }
        let mut parts = Vec::new();
        let mut current = String::new();
        let mut used = 0;
        for c in text.chars() {
            let n = c.len_utf16();
            if used + n > UCS2_PER_PART {
                parts.push(std::mem::take(&mut current));
                used = 0;
            }
            current.push(c);
            used += n;
        }
        parts.push(current);
        (Alphabet::Ucs2, parts)
    }
}

fn encode_address_digits(number: &str) -> (u8, u8, Vec<u8>) {
    let (toa, digits) = match number.strip_prefix('+') {
        Some(rest) => (0x91, rest),
        None => (0x81, number),
    };
    let digits: Vec<u8> = digits
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    let mut octets = Vec::new();
    for pair in digits.chunks(2) {
        let lo = pair.first().copied().unwrap_or(0xF);
        let hi = pair.get(1).copied().unwrap_or(0xF);
        octets.push((hi << 4) | lo);
    }
    (u8::try_from(digits.len()).unwrap_or(0), toa, octets)
}

fn pack_septets(septets: &[u8], bit_offset: usize) -> Vec<u8> {
    let total_bits = bit_offset + septets.len() * 7;
    let mut out = vec![0u8; total_bits.div_ceil(8)];
    for (i, &s) in septets.iter().enumerate() {
        let bit = bit_offset + i * 7;
        let (byte, shift) = (bit / 8, bit % 8);
        let v = u16::from(s & 0x7F) << shift;
        if let Some(b) = out.get_mut(byte) {
            *b |= (v & 0xFF) as u8;
        }
        if let Some(b) = out.get_mut(byte + 1) {
            *b |= (v >> 8) as u8;
        }
    }
    out
}

fn unpack_septets(octets: &[u8], bit_offset: usize, count: usize) -> Vec<u8> {
    (0..count)
        .map(|i| {
            let bit = bit_offset + i * 7;
            let (byte, shift) = (bit / 8, bit % 8);
            let lo = u16::from(octets.get(byte).copied().unwrap_or(0));
            let hi = u16::from(octets.get(byte + 1).copied().unwrap_or(0));
            (((lo | (hi << 8)) >> shift) & 0x7F) as u8
        })
        .collect()
}

fn septets_to_text(septets: &[u8]) -> String {
    let mut text = String::new();
    let mut escaped = false;
    for &s in septets {
        if escaped {
            escaped = false;
            match GSM_EXTENSION.iter().find(|(code, _)| *code == s) {
                Some((_, c)) => text.push(*c),
                // An unknown extension shows the default character, as 23.038 asks.
                None => text.push(GSM_DEFAULT.get(usize::from(s)).copied().unwrap_or('?')),
            }
        } else if s == 0x1B {
            escaped = true;
        } else {
            text.push(GSM_DEFAULT.get(usize::from(s)).copied().unwrap_or('?'));
        }
    }
    text
}

/// Encodes every part of `text` from `originator` as SMS-DELIVER PDUs, with a
/// concatenation header (8-bit reference `reference`) when more than one part is needed.
pub fn encode_deliver(
    smsc: &str,
    originator: &str,
    text: &str,
    time: &SmsTime,
    reference: u8,
) -> Vec<EncodedDeliver> {
    let (alphabet, parts) = split_text(text);
    let total = u8::try_from(parts.len()).unwrap_or(u8::MAX);
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let concat = (total > 1).then(|| Concat {
                reference: u16::from(reference),
                total,
                sequence: u8::try_from(i + 1).unwrap_or(u8::MAX),
            });
            encode_one_deliver(smsc, originator, part, alphabet, concat, time)
        })
        .collect()
}

fn encode_one_deliver(
    smsc: &str,
    originator: &str,
    text: &str,
    alphabet: Alphabet,
    concat: Option<Concat>,
    time: &SmsTime,
) -> EncodedDeliver {
    let mut pdu = Vec::new();
    if smsc.is_empty() {
        pdu.push(0);
    } else {
        let (_, toa, digits) = encode_address_digits(smsc);
        pdu.push(u8::try_from(digits.len() + 1).unwrap_or(0));
        pdu.push(toa);
        pdu.extend_from_slice(&digits);
    }
    let smsc_len = pdu.len();
    // SMS-DELIVER, "no more messages to send", UDHI when concatenated.
    pdu.push(0x04 | if concat.is_some() { 0x40 } else { 0 });
    let (ndigits, toa, digits) = encode_address_digits(originator);
    pdu.push(ndigits);
    pdu.push(toa);
    pdu.extend_from_slice(&digits);
    pdu.push(0x00); // PID
    pdu.push(match alphabet {
        Alphabet::Gsm7 => 0x00,
        Alphabet::Eight => 0x04,
        Alphabet::Ucs2 => 0x08,
    });
    pdu.extend_from_slice(&time.octets());
    let udh: Vec<u8> = match concat {
        Some(c) => vec![
            0x05,
            0x00,
            0x03,
            u8::try_from(c.reference & 0xFF).unwrap_or(0),
            c.total,
            c.sequence,
        ],
        None => Vec::new(),
    };
    match alphabet {
        Alphabet::Gsm7 => {
            let septets: Vec<u8> = text.chars().filter_map(gsm_septets).flatten().collect();
            let header_septets = (udh.len() * 8).div_ceil(7);
            pdu.push(u8::try_from(header_septets + septets.len()).unwrap_or(u8::MAX));
            let mut ud = pack_septets(&septets, header_septets * 7);
            for (slot, b) in ud.iter_mut().zip(udh.iter()) {
                *slot = *b;
            }
            if ud.len() < udh.len() {
                ud = udh.clone();
            }
            pdu.extend_from_slice(&ud);
        }
        Alphabet::Eight | Alphabet::Ucs2 => {
            let body: Vec<u8> = if alphabet == Alphabet::Ucs2 {
                text.encode_utf16().flat_map(u16::to_be_bytes).collect()
            } else {
                text.chars()
                    .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                    .collect()
            };
            pdu.push(u8::try_from(udh.len() + body.len()).unwrap_or(u8::MAX));
            pdu.extend_from_slice(&udh);
            pdu.extend_from_slice(&body);
        }
    }
    EncodedDeliver {
        hex: to_hex(&pdu),
        tpdu_len: pdu.len() - smsc_len,
        text: text.to_string(),
        concat,
    }
}

/// An SMS-STATUS-REPORT (3GPP TS 23.040 §9.2.2.3) for the message with reference `mr`
/// to `recipient`: received by the service centre at `received`, `status` reached at
/// `discharged` (0x00: delivered). The hex a `+CDS`/`+CMGR` shows and its TPDU length.
pub fn encode_status_report(
    smsc: &str,
    mr: u8,
    recipient: &str,
    received: &SmsTime,
    discharged: &SmsTime,
    status: u8,
) -> EncodedDeliver {
    let mut pdu = Vec::new();
    if smsc.is_empty() {
        pdu.push(0);
    } else {
        let (_, toa, digits) = encode_address_digits(smsc);
        pdu.push(u8::try_from(digits.len() + 1).unwrap_or(0));
        pdu.push(toa);
        pdu.extend_from_slice(&digits);
    }
    let smsc_len = pdu.len();
    // SMS-STATUS-REPORT, "no more messages to send", about an SMS-SUBMIT.
    pdu.push(0x06);
    pdu.push(mr);
    let (ndigits, toa, digits) = encode_address_digits(recipient);
    pdu.push(ndigits);
    pdu.push(toa);
    pdu.extend_from_slice(&digits);
    pdu.extend_from_slice(&received.octets());
    pdu.extend_from_slice(&discharged.octets());
    pdu.push(status);
    EncodedDeliver {
        hex: to_hex(&pdu),
        tpdu_len: pdu.len() - smsc_len,
        text: String::new(),
        concat: None,
    }
}

/// Upper-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// Bytes of a hex string (either case, surrounding white space ignored).
pub fn from_hex(hex: &str) -> Result<Vec<u8>, PduError> {
    let hex = hex.trim();
    let bad = || PduError::NotHex(hex.chars().take(40).collect());
    if !hex.len().is_multiple_of(2) {
        return Err(bad());
    }
    hex.as_bytes()
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
                .ok_or_else(bad)
        })
        .collect()
}

/// A cursor over PDU octets that names the field it ran out in.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn u8(&mut self, field: &'static str) -> Result<u8, PduError> {
        let b = self
            .bytes
            .get(self.pos)
            .copied()
            .ok_or(PduError::Truncated(field))?;
        self.pos += 1;
        Ok(b)
    }
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], PduError> {
        let s = self
            .bytes
            .get(self.pos..self.pos + n)
            .ok_or(PduError::Truncated(field))?;
        self.pos += n;
        Ok(s)
    }
    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or(&[])
    }
}

fn decode_smsc(r: &mut Reader<'_>) -> Result<Option<String>, PduError> {
    let len = usize::from(r.u8("SMSC length")?);
    if len == 0 {
        return Ok(None);
    }
    let toa = r.u8("SMSC type")?;
    let octets = r.take(len - 1, "SMSC address")?;
    Ok(Some(semi_octets(octets, (len - 1) * 2, toa)))
}

fn semi_octets(octets: &[u8], ndigits: usize, toa: u8) -> String {
    let mut s = String::new();
    if toa & 0x70 == 0x10 {
        s.push('+');
    }
    for i in 0..ndigits {
        let o = octets.get(i / 2).copied().unwrap_or(0xFF);
        let d = if i % 2 == 0 { o & 0x0F } else { o >> 4 };
        match d {
            0..=9 => s.push(char::from(b'0' + d)),
            0xA => s.push('*'),
            0xB => s.push('#'),
            0xC..=0xE => s.push(char::from(b'a' + d - 0xC)),
            _ => {}
        }
    }
    s
}

fn decode_address(r: &mut Reader<'_>, field: &'static str) -> Result<String, PduError> {
    let ndigits = usize::from(r.u8(field)?);
    let toa = r.u8(field)?;
    let octets = r.take(ndigits.div_ceil(2), field)?;
    if toa & 0x70 == 0x50 {
        // Alphanumeric: the length counts semi-octets of packed 7-bit text.
        let septets = ndigits * 4 / 7;
        return Ok(septets_to_text(&unpack_septets(octets, 0, septets)));
    }
    Ok(semi_octets(octets, ndigits, toa))
}

fn alphabet_of(dcs: u8) -> Result<Alphabet, PduError> {
    match dcs >> 4 {
        // General data coding, uncompressed (bit 5 clear), and the message-waiting groups.
        0x0 | 0x1 | 0x4 | 0x5 => match (dcs >> 2) & 0x03 {
            0 => Ok(Alphabet::Gsm7),
            1 => Ok(Alphabet::Eight),
            2 => Ok(Alphabet::Ucs2),
            _ => Err(PduError::UnsupportedDcs(dcs)),
        },
        0xC | 0xD => Ok(Alphabet::Gsm7),
        0xE => Ok(Alphabet::Ucs2),
        0xF => Ok(if dcs & 0x04 == 0 {
            Alphabet::Gsm7
        } else {
            Alphabet::Eight
        }),
        _ => Err(PduError::UnsupportedDcs(dcs)),
    }
}

fn decode_user_data(
    r: &mut Reader<'_>,
    alphabet: Alphabet,
    udhi: bool,
) -> Result<(String, Option<Concat>), PduError> {
    let udl = usize::from(r.u8("user data length")?);
    let ud = r.rest();
    let (udh_octets, concat) = if udhi {
        let udhl = usize::from(*ud.first().ok_or(PduError::Truncated("user data header"))?);
        let header = ud
            .get(1..1 + udhl)
            .ok_or(PduError::Truncated("user data header"))?;
        (1 + udhl, parse_concat(header))
    } else {
        (0, None)
    };
    let text = match alphabet {
        Alphabet::Gsm7 => {
            let skip = (udh_octets * 8).div_ceil(7);
            let count = udl.saturating_sub(skip);
            if (skip + count) * 7 > ud.len() * 8 + 7 {
                return Err(PduError::Truncated("user data"));
            }
            septets_to_text(&unpack_septets(ud, skip * 7, count))
        }
        Alphabet::Eight => {
            let body = ud
                .get(udh_octets..udl)
                .ok_or(PduError::Truncated("user data"))?;
            body.iter().map(|&b| char::from(b)).collect()
        }
        Alphabet::Ucs2 => {
            let body = ud
                .get(udh_octets..udl)
                .ok_or(PduError::Truncated("user data"))?;
            let units: Vec<u16> = body
                .chunks(2)
                .map(|p| {
                    u16::from_be_bytes([
                        p.first().copied().unwrap_or(0),
                        p.get(1).copied().unwrap_or(0),
                    ])
                })
                .collect();
            String::from_utf16(&units).map_err(|_| PduError::BadUcs2)?
        }
    };
    Ok((text, concat))
}

fn parse_concat(header: &[u8]) -> Option<Concat> {
    let mut i = 0;
    while let (Some(&iei), Some(&len)) = (header.get(i), header.get(i + 1)) {
        let data = header.get(i + 2..i + 2 + usize::from(len))?;
        match (iei, data) {
            (0x00, [reference, total, sequence]) => {
                return Some(Concat {
                    reference: u16::from(*reference),
                    total: *total,
                    sequence: *sequence,
                });
            }
            (0x08, [hi, lo, total, sequence]) => {
                return Some(Concat {
                    reference: u16::from_be_bytes([*hi, *lo]),
                    total: *total,
                    sequence: *sequence,
                });
            }
            _ => {}
        }
        i += 2 + usize::from(len);
    }
    None
}

/// Decodes the hex PDU a host sent after `AT+CMGS=<declared_tpdu_len>`.
pub fn decode_submit(hex: &str, declared_tpdu_len: usize) -> Result<Submit, PduError> {
    let bytes = from_hex(hex)?;
    let mut r = Reader {
        bytes: &bytes,
        pos: 0,
    };
    decode_smsc(&mut r)?;
    let actual = bytes.len() - r.pos;
    if actual != declared_tpdu_len {
        return Err(PduError::LengthMismatch {
            declared: declared_tpdu_len,
            actual,
        });
    }
    let first = r.u8("first octet")?;
    if first & 0x03 != 0x01 {
        return Err(PduError::WrongType {
            expected: "SMS-SUBMIT",
            mti: first & 0x03,
        });
    }
    let message_reference = r.u8("message reference")?;
    let number = decode_address(&mut r, "destination address")?;
    let _pid = r.u8("protocol identifier")?;
    let dcs = r.u8("data coding scheme")?;
    match (first >> 3) & 0x03 {
        0 => {}
        2 => {
            r.u8("validity period")?;
        }
        _ => {
            r.take(7, "validity period")?;
        }
    }
    let alphabet = alphabet_of(dcs)?;
    let (text, concat) = decode_user_data(&mut r, alphabet, first & 0x40 != 0)?;
    Ok(Submit {
        number,
        text,
        alphabet,
        concat,
        message_reference,
        status_report_requested: first & 0x20 != 0,
    })
}

/// Decodes an SMS-DELIVER PDU (SMSC part included), as `+CMGR` shows it in PDU mode.
pub fn decode_deliver(hex: &str) -> Result<Deliver, PduError> {
    let bytes = from_hex(hex)?;
    let mut r = Reader {
        bytes: &bytes,
        pos: 0,
    };
    let smsc = decode_smsc(&mut r)?;
    let first = r.u8("first octet")?;
    if first & 0x03 != 0x00 {
        return Err(PduError::WrongType {
            expected: "SMS-DELIVER",
            mti: first & 0x03,
        });
    }
    let originator = decode_address(&mut r, "originating address")?;
    let _pid = r.u8("protocol identifier")?;
    let dcs = r.u8("data coding scheme")?;
    let ts = r.take(7, "service centre time stamp")?;
    let d = |i: usize| {
        let o = ts.get(i).copied().unwrap_or(0);
        (o & 0x0F) * 10 + (o >> 4)
    };
    let timestamp = format!(
        "{:02}/{:02}/{:02},{:02}:{:02}:{:02}+{:02}",
        d(0),
        d(1),
        d(2),
        d(3),
        d(4),
        d(5),
        d(6)
    );
    let alphabet = alphabet_of(dcs)?;
    let (text, concat) = decode_user_data(&mut r, alphabet, first & 0x40 != 0)?;
    Ok(Deliver {
        smsc,
        originator,
        text,
        alphabet,
        concat,
        timestamp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The receive example of SIM7600-PROTOCOL.md: "How are you?" from +31641600986.
    const DOC_DELIVER: &str =
        "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07";

    #[test]
    fn the_protocol_docs_received_pdu_decodes_to_how_are_you() {
        let d = decode_deliver(DOC_DELIVER).unwrap();
        assert_eq!(d.smsc.as_deref(), Some("+31624000000"));
        assert_eq!(d.originator, "+31641600986");
        assert_eq!(d.text, "How are you?");
        assert_eq!(d.timestamp, "02/08/26,19:37:41+80");
    }

    #[test]
    fn encoding_the_docs_message_reproduces_its_pdu_byte_for_byte() {
        let t = SmsTime {
            year: 2002,
            month: 8,
            day: 26,
            hour: 19,
            minute: 37,
            second: 41,
        };
        let parts = encode_deliver("+31624000000", "+31641600986", "How are you?", &t, 0);
        assert_eq!(parts.len(), 1);
        // Only the time zone octet differs: the simulator stamps UTC (00), the doc +20 (80).
        let expected = DOC_DELIVER.replace("20806291731408", "20806291731400");
        assert_eq!(parts[0].hex, expected);
        assert_eq!(parts[0].tpdu_len, 30);
    }

    #[test]
    fn a_submit_from_a_typical_host_decodes_number_and_text() {
        // 0 SMSC, SUBMIT with relative VP, to +491721234567, GSM 7-bit "hellohello".
        let hex = "0011000C919471123254760000AA0AE8329BFD4697D9EC37";
        let s = decode_submit(hex, 23).unwrap();
        assert_eq!(s.number, "+491721234567");
        assert_eq!(s.text, "hellohello");
        assert_eq!(s.alphabet, Alphabet::Gsm7);
        assert_eq!(s.concat, None);
    }

    #[test]
    fn a_wrong_announced_length_is_refused_with_both_numbers() {
        let hex = "0011000C919471123254760000AA0AE8329BFD4697D9EC37";
        assert_eq!(
            decode_submit(hex, 22),
            Err(PduError::LengthMismatch {
                declared: 22,
                actual: 23
            })
        );
    }

    #[test]
    fn truncated_or_non_hex_input_is_an_error_not_a_panic() {
        assert!(matches!(
            decode_submit("0011", 1),
            Err(PduError::Truncated(_))
        ));
        assert!(matches!(decode_submit("zz", 0), Err(PduError::NotHex(_))));
        assert!(matches!(decode_submit("001", 0), Err(PduError::NotHex(_))));
        let full = "0011000C919471123254760000AA0AE8329BFD4697D9EC37";
        for cut in 0..=full.len() {
            let hex = &full[..cut];
            let _ = decode_submit(hex, hex.len() / 2);
            let _ = decode_deliver(hex);
        }
    }

    #[test]
    fn extension_characters_and_ucs2_round_trip_through_deliver() {
        let t = SmsTime::now();
        for text in ["Price: 5€ [ok] {x} ~|^\\", "Grüße, 你好 😀"] {
            let parts = encode_deliver("", "12345", text, &t, 7);
            assert_eq!(parts.len(), 1);
            let d = decode_deliver(&parts[0].hex).unwrap();
            assert_eq!(d.text, text);
            assert_eq!(d.originator, "12345");
        }
    }

    #[test]
    fn a_long_gsm_text_becomes_concatenated_parts_that_reassemble() {
        let text: String = (0..400)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let parts = encode_deliver("+31624000000", "+4915112345678", &text, &SmsTime::now(), 42);
        assert_eq!(parts.len(), 3);
        let mut joined = String::new();
        for (i, p) in parts.iter().enumerate() {
            let d = decode_deliver(&p.hex).unwrap();
            let c = d.concat.unwrap();
            assert_eq!(
                (c.reference, c.total, usize::from(c.sequence)),
                (42, 3, i + 1)
            );
            joined.push_str(&d.text);
        }
        assert_eq!(joined, text);
    }

    #[test]
    fn a_long_ucs2_text_splits_at_67_units() {
        let text = "ж".repeat(100);
        let (alphabet, parts) = split_text(&text);
        assert_eq!(alphabet, Alphabet::Ucs2);
        assert_eq!(
            parts.iter().map(|p| p.chars().count()).collect::<Vec<_>>(),
            [67, 33]
        );
    }

    #[test]
    fn a_concatenated_ucs2_submit_with_16_bit_reference_decodes() {
        // UDHI set, no validity period, DA "12345", DCS 08, UDH 06 08 04 1234 02 01, "AB".
        let hex = "004100058121 43F500080B0608041234020100410042".replace(' ', "");
        let s = decode_submit(&hex, 21).unwrap();
        assert_eq!(s.number, "12345");
        assert_eq!(s.text, "AB");
        assert_eq!(
            s.concat,
            Some(Concat {
                reference: 0x1234,
                total: 2,
                sequence: 1
            })
        );
    }

    #[test]
    fn utc_calendar_conversion_matches_known_dates() {
        let at = |s: u64| {
            SmsTime::from_system(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s))
        };
        assert_eq!(at(0).iso(), "1970-01-01T00:00:00");
        assert_eq!(at(951_782_400).iso(), "2000-02-29T00:00:00");
        assert_eq!(at(1_795_494_557).text_mode(), "26/11/24,04:29:17+00");
    }
}
