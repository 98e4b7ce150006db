//! The data coding scheme (TP-DCS, 3GPP TS 23.038 §4): alphabet and message class.
//!
//! This module owns [`DataCoding`]: reading every coding group a received PDU may carry
//! (general data coding, automatic deletion, message waiting, the 0xF0 data
//! coding/message class group; reserved groups read as GSM 7-bit as §4 asks) and writing
//! the general-group octet the encoder sends.

/// The alphabet of the user data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Alphabet {
    /// GSM 7-bit default alphabet, packed septets.
    Gsm7,
    /// 8-bit data, kept as bytes.
    EightBit,
    /// UCS-2 (read as UTF-16 big-endian, so surrogate pairs carry emoji).
    Ucs2,
}

/// The message class (TS 23.038 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MessageClass {
    /// Class 0, "flash": shown at once, not stored.
    Class0,
    /// Class 1: mobile equipment specific.
    Class1,
    /// Class 2: SIM specific.
    Class2,
    /// Class 3: terminal equipment specific.
    Class3,
}

impl MessageClass {
    fn from_bits(bits: u8) -> Self {
        match bits & 0x03 {
            0 => MessageClass::Class0,
            1 => MessageClass::Class1,
            2 => MessageClass::Class2,
            _ => MessageClass::Class3,
        }
    }

    fn bits(self) -> u8 {
        match self {
            MessageClass::Class0 => 0,
            MessageClass::Class1 => 1,
            MessageClass::Class2 => 2,
            MessageClass::Class3 => 3,
        }
    }
}

/// A decoded TP-DCS octet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DataCoding {
    /// The alphabet of the user data.
    pub alphabet: Alphabet,
    /// The message class, when the octet gives one.
    pub class: Option<MessageClass>,
    /// Whether the text is compressed (TS 23.042); the decoder refuses such text.
    pub compressed: bool,
    /// The octet as received, for what the fields above do not say (message waiting
    /// indications, automatic deletion).
    pub octet: u8,
}

impl DataCoding {
    /// Reads a TP-DCS octet.
    pub fn from_octet(octet: u8) -> Self {
        let general_alphabet = |bits: u8| match (bits >> 2) & 0x03 {
            1 => Alphabet::EightBit,
            2 => Alphabet::Ucs2,
            // 0 is GSM 7-bit; 3 is reserved and TS 23.038 says to read it as GSM 7-bit.
            _ => Alphabet::Gsm7,
        };
        let (alphabet, class, compressed) = match octet >> 4 {
            // 00xx and 01xx: general data coding; 01xx adds "delete after reading".
            0x0..=0x7 => {
                let class = (octet & 0x10 != 0).then(|| MessageClass::from_bits(octet));
                (general_alphabet(octet), class, octet & 0x20 != 0)
            }
            // Message waiting indication groups: discard (GSM 7-bit), store (GSM 7-bit),
            // store (UCS-2).
            0xC | 0xD => (Alphabet::Gsm7, None, false),
            0xE => (Alphabet::Ucs2, None, false),
            // 1111: data coding / message class; bit 2 picks 8-bit over GSM 7-bit.
            0xF => {
                let alphabet = if octet & 0x04 != 0 {
                    Alphabet::EightBit
                } else {
                    Alphabet::Gsm7
                };
                (alphabet, Some(MessageClass::from_bits(octet)), false)
            }
            // 1000..1011: reserved coding groups, read as GSM 7-bit (TS 23.038 §4).
            _ => (Alphabet::Gsm7, None, false),
        };
        Self {
            alphabet,
            class,
            compressed,
            octet,
        }
    }

    /// The general-group octet for an uncompressed text of `alphabet`, with the class bits
    /// only when a class is given (so a plain text is 0x00 or 0x08, as smsd sends it).
    pub fn general(alphabet: Alphabet, class: Option<MessageClass>) -> Self {
        let alphabet_bits = match alphabet {
            Alphabet::Gsm7 => 0x00,
            Alphabet::EightBit => 0x04,
            Alphabet::Ucs2 => 0x08,
        };
        let class_bits = class.map_or(0, |c| 0x10 | c.bits());
        Self {
            alphabet,
            class,
            compressed: false,
            octet: alphabet_bits | class_bits,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_texts_use_the_general_group() {
        assert_eq!(DataCoding::from_octet(0x00).alphabet, Alphabet::Gsm7);
        assert_eq!(DataCoding::from_octet(0x08).alphabet, Alphabet::Ucs2);
        assert_eq!(DataCoding::from_octet(0x04).alphabet, Alphabet::EightBit);
        assert_eq!(DataCoding::from_octet(0x00).class, None);
    }

    #[test]
    fn flash_ucs2_is_class_0() {
        let dcs = DataCoding::from_octet(0x18);
        assert_eq!(
            (dcs.alphabet, dcs.class),
            (Alphabet::Ucs2, Some(MessageClass::Class0))
        );
        assert_eq!(
            DataCoding::general(Alphabet::Ucs2, Some(MessageClass::Class0)).octet,
            0x18
        );
        assert_eq!(DataCoding::general(Alphabet::Gsm7, None).octet, 0x00);
    }

    #[test]
    fn f0_group_gives_class_and_8_bit() {
        let dcs = DataCoding::from_octet(0xF6);
        assert_eq!(
            (dcs.alphabet, dcs.class),
            (Alphabet::EightBit, Some(MessageClass::Class2))
        );
        let dcs = DataCoding::from_octet(0xF0);
        assert_eq!(
            (dcs.alphabet, dcs.class),
            (Alphabet::Gsm7, Some(MessageClass::Class0))
        );
    }

    #[test]
    fn compressed_and_reserved_groups() {
        assert!(DataCoding::from_octet(0x20).compressed);
        assert_eq!(DataCoding::from_octet(0x0C).alphabet, Alphabet::Gsm7);
        assert_eq!(DataCoding::from_octet(0x80).alphabet, Alphabet::Gsm7);
        assert_eq!(DataCoding::from_octet(0xE0).alphabet, Alphabet::Ucs2);
        assert_eq!(DataCoding::from_octet(0x48).alphabet, Alphabet::Ucs2);
    }
}
