//! The call's audio format and the conversion into it. The SIM7600's USB audio port
//! carries signed 16-bit little-endian mono PCM at 8 kHz (16 kHz after AT+CPCMFRM=1) in
//! 20 ms frames (SIM7600-PROTOCOL.md, "Audio over USB"). This module owns that format
//! ([`CallFormat`]), the decoded sound ready to play ([`Clip`]), and the decoding of WAV
//! files of any common rate and sample format into it ([`decode_wav`], [`load_wav`]):
//! channels averaged to mono, the rate converted with rubato's FFT resampler, samples
//! scaled to 16 bits. Input that is not audio, or audio we cannot use, is refused with an
//! error naming where it came from and what is wrong.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rubato::{FftFixedIn, Resampler as _};

/// One frame of call audio lasts this long, in both directions.
pub const FRAME_DURATION: Duration = Duration::from_millis(20);
/// Bytes per sample on the audio port (signed 16-bit little-endian).
pub const BYTES_PER_SAMPLE: usize = 2;
/// The largest audio file read into memory (64 MiB: ten minutes of 48 kHz 24-bit stereo
/// is 173 MB, but a greeting or a synthesized answer is far below this; the bound keeps a
/// wrong path, say a disk image, from exhausting memory).
pub const MAX_AUDIO_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// The longest clip accepted, in seconds of audio (a 10-minute clip at 16 kHz is 19 MB
/// of samples in memory).
pub const MAX_CLIP_SECONDS: u32 = 600;
/// The lowest sample rate accepted (below it, it is not speech).
pub const MIN_SOURCE_RATE: u32 = 1000;
/// The highest sample rate accepted (studio rates go to 384 kHz; beyond it a header is
/// more likely corrupt than real, and the resampler's work grows with the rate).
pub const MAX_SOURCE_RATE: u32 = 384_000;
/// The most channels a WAV may have (they are averaged to mono).
pub const MAX_CHANNELS: u16 = 8;
/// Input frames per resampler chunk: a few hundred to a few thousand is what rubato
/// recommends for whole-clip conversion.
pub const RESAMPLER_CHUNK: usize = 1024;

/// The PCM format of the call's audio port.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum CallFormat {
    /// 8 kHz, the power-up default: 160 samples, 320 bytes per frame.
    #[default]
    Narrowband,
    /// 16 kHz after AT+CPCMFRM=1: 320 samples, 640 bytes per frame.
    Wideband,
}

impl CallFormat {
    /// Samples per second.
    pub const fn sample_rate(self) -> u32 {
        match self {
            CallFormat::Narrowband => 8000,
            CallFormat::Wideband => 16000,
        }
    }

    /// Samples in one 20 ms frame.
    pub const fn frame_samples(self) -> usize {
        (self.sample_rate() / 50) as usize
    }

    /// Bytes in one 20 ms frame (320 or 640).
    pub const fn frame_bytes(self) -> usize {
        self.frame_samples() * BYTES_PER_SAMPLE
    }

    /// The largest frame of any format, for buffers that must fit either.
    pub const MAX_FRAME_BYTES: usize = CallFormat::Wideband.frame_bytes();
}

/// Sound ready to play into a call: mono 16-bit samples at the call's rate. Cheap to
/// clone (the samples are shared).
#[derive(Clone, PartialEq, Eq)]
pub struct Clip {
    format: CallFormat,
    samples: Arc<[i16]>,
}

impl std::fmt::Debug for Clip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clip")
            .field("format", &self.format)
            .field("samples", &self.samples.len())
            .field("duration", &self.duration())
            .finish()
    }
}

impl Clip {
    /// A clip of these samples, already in `format`.
    pub fn from_samples(format: CallFormat, samples: Vec<i16>) -> Clip {
        Clip {
            format,
            samples: samples.into(),
        }
    }

    /// The format the samples are in.
    pub fn format(&self) -> CallFormat {
        self.format
    }

    /// The samples.
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// How long it plays.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.samples.len() as f64 / f64::from(self.format.sample_rate()))
    }

    /// How many 20 ms frames it fills (the last one padded with silence).
    pub fn frame_count(&self) -> usize {
        self.samples.len().div_ceil(self.format.frame_samples())
    }
}

/// Why audio was refused. Every variant names where the audio came from (`origin`: a
/// file's path, or the program whose output it was).
#[derive(Debug, thiserror::Error)]
pub enum AudioFormatError {
    /// The file could not be read.
    #[error("cannot read the audio file {origin}: {source}")]
    Read {
        /// The file.
        origin: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The input is larger than [`MAX_AUDIO_FILE_BYTES`].
    #[error("{origin} is {bytes} bytes, more than the {limit} bytes an audio clip may have")]
    TooLarge {
        /// Where it came from.
        origin: String,
        /// Its size.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The input is not a WAV file at all.
    #[error("{origin} is not a WAV audio file: {reason}")]
    NotWav {
        /// Where it came from.
        origin: String,
        /// What the WAV reader found wrong.
        reason: String,
    },
    /// A WAV file in a form we cannot use.
    #[error("{origin} is a WAV file we cannot play: {reason}")]
    Unsupported {
        /// Where it came from.
        origin: String,
        /// What is not supported.
        reason: String,
    },
    /// A WAV file with no samples.
    #[error("{origin} holds no audio (zero samples)")]
    Empty {
        /// Where it came from.
        origin: String,
    },
    /// Longer than [`MAX_CLIP_SECONDS`].
    #[error("{origin} lasts {seconds:.1} s, more than the {limit} s a clip may last")]
    TooLong {
        /// Where it came from.
        origin: String,
        /// Its duration.
        seconds: f64,
        /// The limit.
        limit: u32,
    },
    /// The resampler refused the rates (it should not: both are positive).
    #[error("cannot convert {origin} from {from} Hz to {to} Hz: {reason}")]
    Resample {
        /// Where it came from.
        origin: String,
        /// Its rate.
        from: u32,
        /// The call's rate.
        to: u32,
        /// The resampler's words.
        reason: String,
    },
}

/// Reads the WAV file at `path` and converts it to `format`.
pub fn load_wav(path: &Path, format: CallFormat) -> Result<Clip, AudioFormatError> {
    use std::io::Read as _;
    let origin = path.display().to_string();
    let read_err = |source| AudioFormatError::Read {
        origin: origin.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    // One byte beyond the limit tells "too large" from "exactly at the limit".
    file.take(MAX_AUDIO_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_AUDIO_FILE_BYTES {
        let bytes = std::fs::metadata(path)
            .map(|m| m.len())
            .unwrap_or(bytes.len() as u64);
        return Err(AudioFormatError::TooLarge {
            origin,
            bytes,
            limit: MAX_AUDIO_FILE_BYTES,
        });
    }
    decode_wav(&bytes, &origin, format)
}

/// Decodes a WAV held in memory (a request body, a program's output) and converts it to
/// `format`. `origin` names it in errors.
///
/// A data chunk that declares more bytes than there are is read up to its end: programs
/// that write WAV to a pipe (espeak-ng, Piper) cannot go back to fill in the length and
/// declare 0x7FFFF000 or similar.
pub fn decode_wav(
    bytes: &[u8],
    origin: &str,
    format: CallFormat,
) -> Result<Clip, AudioFormatError> {
    if bytes.len() as u64 > MAX_AUDIO_FILE_BYTES {
        return Err(AudioFormatError::TooLarge {
            origin: origin.into(),
            bytes: bytes.len() as u64,
            limit: MAX_AUDIO_FILE_BYTES,
        });
    }
    let reader = hound::WavReader::new(bytes).map_err(|e| match e {
        hound::Error::Unsupported => AudioFormatError::Unsupported {
            origin: origin.into(),
            reason: "its encoding is not PCM or IEEE float".into(),
        },
        hound::Error::IoError(io) => AudioFormatError::NotWav {
            origin: origin.into(),
            reason: format!("the header ends early ({io})"),
        },
        other => AudioFormatError::NotWav {
            origin: origin.into(),
            reason: other.to_string(),
        },
    })?;
    let spec = reader.spec();
    if spec.channels == 0 || spec.channels > MAX_CHANNELS {
        return Err(AudioFormatError::Unsupported {
            origin: origin.into(),
            reason: format!(
                "it has {} channels (1 to {MAX_CHANNELS} are accepted)",
                spec.channels
            ),
        });
    }
    if !(MIN_SOURCE_RATE..=MAX_SOURCE_RATE).contains(&spec.sample_rate) {
        return Err(AudioFormatError::Unsupported {
            origin: origin.into(),
            reason: format!(
                "its sample rate is {} Hz ({MIN_SOURCE_RATE} to {MAX_SOURCE_RATE} Hz are accepted)",
                spec.sample_rate
            ),
        });
    }
    let interleaved = read_samples(reader, spec, origin)?;
    let channels = usize::from(spec.channels);
    let mono: Vec<f32> = interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    if mono.is_empty() {
        return Err(AudioFormatError::Empty {
            origin: origin.into(),
        });
    }
    let seconds = mono.len() as f64 / f64::from(spec.sample_rate);
    if seconds > f64::from(MAX_CLIP_SECONDS) {
        return Err(AudioFormatError::TooLong {
            origin: origin.into(),
            seconds,
            limit: MAX_CLIP_SECONDS,
        });
    }
    let resampled = resample(&mono, spec.sample_rate, format.sample_rate()).map_err(|reason| {
        AudioFormatError::Resample {
            origin: origin.into(),
            from: spec.sample_rate,
            to: format.sample_rate(),
            reason,
        }
    })?;
    Ok(Clip::from_samples(
        format,
        resampled.into_iter().map(to_i16).collect(),
    ))
}

/// The samples as floats in [-1, 1], interleaved as in the file.
fn read_samples(
    reader: hound::WavReader<&[u8]>,
    spec: hound::WavSpec,
    origin: &str,
) -> Result<Vec<f32>, AudioFormatError> {
    let unsupported = |reason: String| AudioFormatError::Unsupported {
        origin: origin.into(),
        reason,
    };
    // Collects until the data (or the bytes) end. For PCM the only failure a sample read
    // can meet is running out of bytes, which decode_wav says is the end, not an error.
    fn collect<S, T>(
        samples: impl Iterator<Item = hound::Result<S>>,
        convert: impl Fn(S) -> T,
    ) -> Vec<T> {
        samples.map_while(Result::ok).map(convert).collect()
    }
    match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => Ok(collect(reader.into_samples::<f32>(), |s| {
            if s.is_finite() {
                s.clamp(-1.0, 1.0)
            } else {
                0.0
            }
        })),
        (hound::SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f64;
            Ok(collect(reader.into_samples::<i32>(), move |s| {
                (f64::from(s) * scale) as f32
            }))
        }
        (hound::SampleFormat::Float, bits) => Err(unsupported(format!(
            "{bits}-bit float samples (32-bit float is accepted)"
        ))),
        (hound::SampleFormat::Int, bits) => Err(unsupported(format!(
            "{bits}-bit integer samples (8, 16, 24 or 32 bits are accepted)"
        ))),
    }
}

fn to_i16(s: f32) -> i16 {
    // The resampler may overshoot full scale a little on a clipped input: clamp.
    (s * 32767.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Converts mono samples from `from` Hz to `to` Hz, following rubato's recipe for a
/// whole clip: fixed input chunks, the last one partial, then flush until the output
/// covers the resampler's delay, which is cut off the front.
fn resample(input: &[f32], from: u32, to: u32) -> Result<Vec<f32>, String> {
    if from == to {
        return Ok(input.to_vec());
    }
    let mut resampler = FftFixedIn::<f32>::new(from as usize, to as usize, RESAMPLER_CHUNK, 2, 1)
        .map_err(|e| e.to_string())?;
    let delay = resampler.output_delay();
    let wanted =
        ((input.len() as u64 * u64::from(to) + u64::from(from) / 2) / u64::from(from)) as usize;
    let mut out: Vec<f32> = Vec::with_capacity(wanted + delay + RESAMPLER_CHUNK);
    let mut rest = input;
    loop {
        let need = resampler.input_frames_next();
        if rest.len() < need {
            break;
        }
        let (chunk, tail) = rest.split_at(need);
        let produced = resampler
            .process(&[chunk], None)
            .map_err(|e| e.to_string())?;
        out.extend(produced.into_iter().flatten());
        rest = tail;
    }
    if !rest.is_empty() {
        let produced = resampler
            .process_partial(Some(&[rest]), None)
            .map_err(|e| e.to_string())?;
        out.extend(produced.into_iter().flatten());
    }
    while out.len() < wanted + delay {
        let produced = resampler
            .process_partial::<&[f32]>(None, None)
            .map_err(|e| e.to_string())?;
        if produced.iter().all(Vec::is_empty) {
            break;
        }
        out.extend(produced.into_iter().flatten());
    }
    Ok(out.into_iter().skip(delay).take(wanted).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAV file in memory: `channels` copies of a sine at `hz`, in the given sample form.
    pub(crate) fn sine_wav(
        rate: u32,
        channels: u16,
        bits: u16,
        float: bool,
        hz: f64,
        seconds: f64,
    ) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: if float {
                hound::SampleFormat::Float
            } else {
                hound::SampleFormat::Int
            },
        };
        let mut cursor = std::io::Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut cursor, spec).unwrap();
        let n = (f64::from(rate) * seconds) as usize;
        for i in 0..n {
            let v = 0.5 * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin();
            for _ in 0..channels {
                if float {
                    w.write_sample(v as f32).unwrap();
                } else {
                    let max = ((1i64 << (bits - 1)) - 1) as f64;
                    w.write_sample((v * max) as i32).unwrap();
                }
            }
        }
        w.finalize().unwrap();
        cursor.into_inner()
    }

    /// The frequency among 50 Hz steps where the clip has the most energy (a coarse
    /// check that the tone survived conversion; the rig uses a finer detector).
    fn strongest(clip: &Clip) -> f64 {
        let rate = f64::from(clip.format().sample_rate());
        let s = clip.samples();
        let power = |hz: f64| {
            let w = 2.0 * std::f64::consts::PI * hz / rate;
            let (mut re, mut im) = (0.0, 0.0);
            for (i, &x) in s.iter().enumerate() {
                re += f64::from(x) * (w * i as f64).cos();
                im += f64::from(x) * (w * i as f64).sin();
            }
            re * re + im * im
        };
        (1..80)
            .map(|k| f64::from(k) * 50.0)
            .max_by(|a, b| power(*a).total_cmp(&power(*b)))
            .unwrap()
    }

    #[test]
    fn a_greeting_in_any_common_form_becomes_440_hz_at_8_khz_of_the_same_length() {
        for (rate, channels, bits, float) in [
            (44100, 2, 16, false),
            (48000, 1, 24, false),
            (22050, 1, 8, false),
            (16000, 2, 32, false),
            (8000, 1, 16, false),
            (32000, 1, 32, true),
            (11025, 2, 32, true),
        ] {
            let wav = sine_wav(rate, channels, bits, float, 450.0, 0.5);
            let clip = decode_wav(&wav, "greeting.wav", CallFormat::Narrowband).unwrap();
            assert_eq!(clip.format(), CallFormat::Narrowband);
            assert!(
                (clip.samples().len() as i64 - 4000).abs() <= 1,
                "{rate} Hz {channels} ch {bits} bit: {} samples",
                clip.samples().len()
            );
            assert_eq!(strongest(&clip), 450.0, "{rate} Hz {bits} bit");
            let peak = clip
                .samples()
                .iter()
                .map(|s| s.unsigned_abs())
                .max()
                .unwrap();
            assert!(
                (15000..=17500).contains(&peak),
                "{rate} Hz {bits} bit: peak {peak}"
            );
        }
    }

    #[test]
    fn wideband_calls_get_16_khz_clips_of_640_byte_frames() {
        let wav = sine_wav(44100, 1, 16, false, 1000.0, 0.1);
        let clip = decode_wav(&wav, "x.wav", CallFormat::Wideband).unwrap();
        assert_eq!(clip.samples().len(), 1600);
        assert_eq!(clip.frame_count(), 5);
        assert_eq!(CallFormat::Wideband.frame_bytes(), 640);
        assert_eq!(CallFormat::Narrowband.frame_bytes(), 320);
        assert_eq!(clip.duration(), Duration::from_millis(100));
    }

    #[test]
    fn a_text_file_is_refused_naming_the_file() {
        let err = decode_wav(
            b"Hello, this is not audio at all\n",
            "notes.txt",
            CallFormat::Narrowband,
        )
        .unwrap_err();
        assert!(matches!(err, AudioFormatError::NotWav { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("notes.txt is not a WAV audio file"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_file_is_refused_naming_it() {
        let err = load_wav(
            Path::new("/nonexistent/greeting.wav"),
            CallFormat::Narrowband,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/greeting.wav"),
            "{err}"
        );
    }

    #[test]
    fn a_wav_with_no_samples_is_refused() {
        let wav = sine_wav(8000, 1, 16, false, 440.0, 0.0);
        let err = decode_wav(&wav, "empty.wav", CallFormat::Narrowband).unwrap_err();
        assert!(matches!(err, AudioFormatError::Empty { .. }), "{err:?}");
        assert!(err.to_string().contains("empty.wav holds no audio"));
    }

    #[test]
    fn a_wav_whose_rate_is_absurd_is_refused_naming_the_rate() {
        let wav = sine_wav(4_000_000, 1, 16, false, 440.0, 0.00001);
        let err = decode_wav(&wav, "odd.wav", CallFormat::Narrowband).unwrap_err();
        assert!(
            err.to_string()
                .contains("its sample rate is 4000000 Hz (1000 to 384000 Hz are accepted)"),
            "{err}"
        );
    }

    #[test]
    fn a_compressed_wav_is_refused_as_unsupported() {
        // A valid RIFF header whose format tag is 0x0055 (MP3 in WAV).
        let mut wav = sine_wav(8000, 1, 16, false, 440.0, 0.01);
        if let Some(tag) = wav.get_mut(20..22) {
            tag.copy_from_slice(&0x0055u16.to_le_bytes());
        }
        let err = decode_wav(&wav, "song.wav", CallFormat::Narrowband).unwrap_err();
        assert!(err.to_string().starts_with("song.wav"), "{err}");
        assert!(
            matches!(
                err,
                AudioFormatError::Unsupported { .. } | AudioFormatError::NotWav { .. }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_stream_written_wav_with_an_unknown_length_is_read_to_its_end() {
        // What espeak-ng --stdout writes: the data chunk claims 0x7FFFF000 bytes.
        let mut wav = sine_wav(8000, 1, 16, false, 440.0, 0.25);
        let data_len = wav.len() - 44;
        if let Some(len) = wav.get_mut(40..44) {
            len.copy_from_slice(&0x7FFF_F000u32.to_le_bytes());
        }
        let clip = decode_wav(&wav, "espeak-ng", CallFormat::Narrowband).unwrap();
        assert_eq!(clip.samples().len(), data_len / 2);
    }
}
