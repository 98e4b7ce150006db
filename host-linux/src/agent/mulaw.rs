//! G.711 µ-law, the 8 kHz telephone coding of Twilio Media Streams (`audio/x-mulaw`):
//! 16-bit linear samples to bytes and back (ITU-T G.711 §A.2, the segment encoding every
//! implementation shares: bias 0x84, clip at 32635, bits inverted).

const BIAS: i32 = 0x84;
const CLIP: i32 = 32_635;

/// One linear sample as a µ-law byte.
pub fn encode(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    let s = s.min(CLIP) + BIAS;
    let exponent = (7 - ((s as u32).leading_zeros() as i32 - 17)).clamp(0, 7);
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

/// One µ-law byte as a linear sample.
pub fn decode(byte: u8) -> i16 {
    let b = !byte;
    let sign = b & 0x80;
    let exponent = i32::from((b >> 4) & 0x07);
    let mantissa = i32::from(b & 0x0F);
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    // At most (15 * 8 + 132) << 7 - 132 = 32124: always an i16.
    let value = if sign != 0 { -magnitude } else { magnitude };
    i16::try_from(value).unwrap_or(i16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_of_g711() {
        // Silence is 0xFF; full scale is 0x80 / 0x00; values as in G.711's tables.
        assert_eq!(encode(0), 0xFF);
        assert_eq!(decode(0xFF), 0);
        assert_eq!(decode(0x7F), 0);
        assert_eq!(encode(i16::MAX), 0x80);
        assert_eq!(encode(i16::MIN + 1), 0x00);
        assert_eq!(decode(0x80), 32_124);
        assert_eq!(decode(0x00), -32_124);
        assert_eq!(encode(1000), 0xCE);
        assert_eq!(decode(0xCE), 988);
    }

    #[test]
    fn every_byte_survives_decode_then_encode_and_samples_stay_close() {
        for byte in 0..=255u8 {
            let back = encode(decode(byte));
            // 0x7F (negative zero) comes back as 0xFF (zero).
            assert!(
                back == byte || (byte == 0x7F && back == 0xFF),
                "{byte:#x} -> {back:#x}"
            );
        }
        for s in (-32_000i32..32_000).step_by(97) {
            let s = s as i16;
            let err = (i32::from(decode(encode(s))) - i32::from(s)).abs();
            assert!(err <= (i32::from(s).abs() / 16).max(8), "{s}: error {err}");
        }
    }
}
