//! Text to speech through an external program that writes a WAV to its stdout: Debian's
//! `espeak-ng --stdout` by default; Piper or a script calling a cloud service plug in
//! the same way. This module owns running that program: the text goes in as one
//! argument (never through a shell, so no quoting can go wrong), the run is bounded in
//! time and in output size, and the WAV that comes out is converted to the call's format
//! like any other clip ([`super::format::decode_wav`]).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use wait_timeout::ChildExt as _;

use super::format::{AudioFormatError, CallFormat, Clip, MAX_AUDIO_FILE_BYTES, decode_wav};

/// The longest text accepted, in bytes.
pub const MAX_TEXT_BYTES: usize = 4096;
/// How long the program may run by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// The most WAV bytes read from the program by default (16 MiB: minutes of speech).
pub const DEFAULT_MAX_OUTPUT: usize = 16 * 1024 * 1024;
/// The most stderr bytes kept for an error message.
pub const MAX_STDERR: usize = 2048;
/// The placeholder in the arguments that the text replaces; without one, the text is
/// the last argument.
pub const TEXT_PLACEHOLDER: &str = "{text}";
/// The placeholder that a language (`/phone_call`'s `"language"`) replaces. Without it,
/// a language is passed to espeak-ng as `-v <language>`; other programs need it.
pub const LANGUAGE_PLACEHOLDER: &str = "{language}";
/// The longest language name accepted (`en`, `de`, `en-us`, `pt-br`, a Piper voice).
pub const MAX_LANGUAGE_BYTES: usize = 32;

/// The speech program and its bounds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtsCommand {
    /// The program and its arguments, e.g. `["espeak-ng", "--stdout"]` or
    /// `["espeak-ng", "--stdout", "-v", "de", "{text}"]`.
    pub command: Vec<String>,
    /// How long it may run, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The most bytes of WAV it may write.
    #[serde(default = "default_max_output")]
    pub max_output_bytes: usize,
    /// What `{language}` becomes when a request names no language.
    #[serde(default = "default_language")]
    pub default_language: String,
}

fn default_language() -> String {
    "en".into()
}

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT.as_millis() as u64
}

fn default_max_output() -> usize {
    DEFAULT_MAX_OUTPUT
}

impl Default for TtsCommand {
    fn default() -> Self {
        TtsCommand {
            command: vec!["espeak-ng".into(), "--stdout".into()],
            timeout_ms: default_timeout_ms(),
            max_output_bytes: DEFAULT_MAX_OUTPUT,
            default_language: default_language(),
        }
    }
}

/// Why no speech came out.
#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    /// The configuration names no program.
    #[error("the text-to-speech command is empty")]
    NoCommand,
    /// The text is empty, too long, or holds a NUL byte.
    #[error("cannot speak this text: {0}")]
    BadText(String),
    /// The program could not be started.
    #[error("cannot run the text-to-speech program {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It ran longer than allowed and was killed.
    #[error("the text-to-speech program {program} did not finish within {timeout:?}")]
    Timeout {
        /// The program.
        program: String,
        /// The limit.
        timeout: Duration,
    },
    /// It wrote more than allowed.
    #[error("the text-to-speech program {program} wrote more than {limit} bytes")]
    TooMuchOutput {
        /// The program.
        program: String,
        /// The limit.
        limit: usize,
    },
    /// It failed.
    #[error("the text-to-speech program {program} failed ({status}): {stderr}")]
    Failed {
        /// The program.
        program: String,
        /// Its exit status.
        status: String,
        /// The start of what it said on stderr.
        stderr: String,
    },
    /// The language name is malformed, or the program cannot be told one.
    #[error("cannot speak in language {language:?}: {problem}")]
    BadLanguage {
        /// The language asked for.
        language: String,
        /// What is wrong.
        problem: String,
    },
    /// Its output is not audio we can play.
    #[error(transparent)]
    Audio(#[from] AudioFormatError),
    /// Waiting for it failed.
    #[error("cannot wait for the text-to-speech program {program}: {source}")]
    Wait {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl TtsCommand {
    /// The timeout as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// Checks, without running anything, that `text` in `language` can be handed to the
    /// program (the same checks [`TtsCommand::synthesize_in`] makes first), so that a
    /// request can be refused before its text is queued for speech.
    pub fn check(&self, text: &str, language: Option<&str>) -> Result<(), TtsError> {
        self.argv(text, language).map(|_| ())
    }

    /// The argument list for `text` in `language` (program first).
    fn argv(&self, text: &str, language: Option<&str>) -> Result<Vec<String>, TtsError> {
        let program = match self.command.first() {
            Some(p) if !p.is_empty() => p,
            _ => return Err(TtsError::NoCommand),
        };
        if text.trim().is_empty() {
            return Err(TtsError::BadText("the text is empty".into()));
        }
        if text.len() > MAX_TEXT_BYTES {
            return Err(TtsError::BadText(format!(
                "the text is {} bytes, more than {MAX_TEXT_BYTES}",
                text.len()
            )));
        }
        if text.contains('\0') {
            return Err(TtsError::BadText("the text holds a NUL byte".into()));
        }
        let bad_language = |language: &str, problem: &str| TtsError::BadLanguage {
            language: language.into(),
            problem: problem.into(),
        };
        if let Some(l) = language {
            if l.is_empty()
                || l.len() > MAX_LANGUAGE_BYTES
                || !l
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+'))
            {
                return Err(bad_language(
                    l,
                    "a language is 1 to 32 letters, digits, '-', '_' or '+'",
                ));
            }
        }
        // A text that starts with '-' would be read as an option; a leading space keeps
        // it text and is not spoken.
        let text = if text.starts_with('-') {
            format!(" {text}")
        } else {
            text.to_string()
        };
        let mut argv: Vec<String> = self.command.clone();
        let takes_language = argv
            .iter()
            .skip(1)
            .any(|a| a.contains(LANGUAGE_PLACEHOLDER));
        if takes_language {
            // The language first: it is checked to hold no placeholder, the text is not.
            let l = language.unwrap_or(&self.default_language);
            for a in argv.iter_mut().skip(1) {
                *a = a.replace(LANGUAGE_PLACEHOLDER, l);
            }
        } else if let Some(l) = language {
            let name = std::path::Path::new(program)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("");
            if !matches!(name, "espeak-ng" | "espeak") {
                return Err(bad_language(
                    l,
                    &format!("the text-to-speech command has no {LANGUAGE_PLACEHOLDER} argument"),
                ));
            }
            argv.splice(1..1, ["-v".to_string(), l.to_string()]);
        }
        if argv.iter().skip(1).any(|a| a.contains(TEXT_PLACEHOLDER)) {
            for a in argv.iter_mut().skip(1) {
                *a = a.replace(TEXT_PLACEHOLDER, &text);
            }
        } else {
            argv.push(text);
        }
        Ok(argv)
    }

    /// Speaks `text`: runs the program, reads its WAV, converts it to `format`.
    pub fn synthesize(&self, text: &str, format: CallFormat) -> Result<Clip, TtsError> {
        self.synthesize_in(text, None, format)
    }

    /// [`TtsCommand::synthesize`] in `language` (espeak-ng's `-v`, or the command's
    /// `{language}` argument).
    pub fn synthesize_in(
        &self,
        text: &str,
        language: Option<&str>,
        format: CallFormat,
    ) -> Result<Clip, TtsError> {
        let argv = self.argv(text, language)?;
        let (program, args) = argv.split_first().ok_or(TtsError::NoCommand)?;
        let mut child = crate::platform::signals::clean_child(&mut Command::new(program))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| TtsError::Spawn {
                program: program.clone(),
                source,
            })?;
        let limit = self.max_output_bytes.min(MAX_AUDIO_FILE_BYTES as usize);
        // Both pipes are drained by threads so that a chatty program never blocks on a
        // full pipe while we wait for it; beyond the limits, output is read and dropped.
        let stdout = child.stdout.take().map(|s| drain(s, limit));
        let stderr = child.stderr.take().map(|s| drain(s, MAX_STDERR));
        let status = match child.wait_timeout(self.timeout()) {
            Ok(Some(status)) => status,
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(TtsError::Timeout {
                    program: program.clone(),
                    timeout: self.timeout(),
                });
            }
            Err(source) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(TtsError::Wait {
                    program: program.clone(),
                    source,
                });
            }
        };
        let (out, overflow) = stdout
            .and_then(|h| h.join().ok())
            .unwrap_or((Vec::new(), false));
        let (err, _) = stderr
            .and_then(|h| h.join().ok())
            .unwrap_or((Vec::new(), false));
        if !status.success() {
            return Err(TtsError::Failed {
                program: program.clone(),
                status: status.to_string(),
                stderr: String::from_utf8_lossy(&err).trim().to_string(),
            });
        }
        if overflow {
            return Err(TtsError::TooMuchOutput {
                program: program.clone(),
                limit,
            });
        }
        Ok(decode_wav(
            &out,
            &format!("the output of {program}"),
            format,
        )?)
    }
}

/// Reads `r` to its end on a thread, keeping at most `limit` bytes; the flag tells
/// whether there was more.
fn drain<R: Read + Send + 'static>(
    mut r: R,
    limit: usize,
) -> std::thread::JoinHandle<(Vec<u8>, bool)> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut overflow = false;
        let mut buf = [0u8; 8192];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let chunk = buf.get(..n).unwrap_or(&[]);
                    let room = limit.saturating_sub(kept.len());
                    if chunk.len() > room {
                        overflow = true;
                    }
                    kept.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or(&[]));
                }
            }
        }
        (kept, overflow)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> TtsCommand {
        TtsCommand {
            command: vec!["sh".into(), "-c".into(), script.into(), "tts".into()],
            timeout_ms: 5000,
            max_output_bytes: 1 << 20,
            default_language: "en".into(),
        }
    }

    #[test]
    fn the_text_is_one_argument_however_it_is_quoted() {
        // The script prints its first argument's length: a shell would have split it.
        let t = sh("printf %s \"$1\" | wc -c >&2; exit 3");
        let text = "it's \"quoted\"; $(rm -rf /) `x`";
        let err = t.synthesize(text, CallFormat::Narrowband).unwrap_err();
        match err {
            TtsError::Failed { stderr, status, .. } => {
                assert_eq!(stderr, text.len().to_string());
                assert!(status.contains('3'), "{status}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_placeholder_puts_the_text_where_the_program_wants_it() {
        let t = TtsCommand {
            command: vec!["piper".into(), "--text={text}".into(), "--out".into()],
            ..TtsCommand::default()
        };
        assert_eq!(t.argv("hi", None).unwrap(), ["piper", "--text=hi", "--out"]);
        let d = TtsCommand::default();
        assert_eq!(
            d.argv("-5 degrees", None).unwrap(),
            ["espeak-ng", "--stdout", " -5 degrees"]
        );
    }

    #[test]
    fn a_language_goes_to_espeak_ng_as_v_or_into_the_placeholder() {
        let d = TtsCommand::default();
        assert_eq!(
            d.argv("Hallo", Some("de")).unwrap(),
            ["espeak-ng", "-v", "de", "--stdout", "Hallo"]
        );
        let piper = TtsCommand {
            command: vec!["piper".into(), "--voice={language}".into(), "{text}".into()],
            ..TtsCommand::default()
        };
        assert_eq!(
            piper.argv("{language} hi", None).unwrap(),
            ["piper", "--voice=en", "{language} hi"],
            "the text is never searched for placeholders"
        );
        assert_eq!(
            piper.argv("hi", Some("de-de")).unwrap(),
            ["piper", "--voice=de-de", "hi"]
        );
        let err = d.argv("hi", Some("de; rm -rf")).unwrap_err().to_string();
        assert!(
            err.starts_with("cannot speak in language \"de; rm -rf\""),
            "{err}"
        );
        let other = TtsCommand {
            command: vec!["my-tts".into()],
            ..TtsCommand::default()
        };
        let err = other.argv("hi", Some("fr")).unwrap_err().to_string();
        assert!(err.contains("has no {language} argument"), "{err}");
    }

    #[test]
    fn espeak_ng_speaks_german_when_asked() {
        let clip = TtsCommand::default()
            .synthesize_in("Guten Tag", Some("de"), CallFormat::Narrowband)
            .unwrap();
        assert!(clip.duration() > Duration::from_millis(300));
    }

    #[test]
    fn empty_long_and_nul_texts_are_refused_before_anything_runs() {
        let t = TtsCommand::default();
        for (text, why) in [
            ("  ", "empty"),
            ("a\0b", "NUL"),
            (&"x".repeat(MAX_TEXT_BYTES + 1), "more than"),
        ] {
            let err = t.synthesize(text, CallFormat::Narrowband).unwrap_err();
            assert!(err.to_string().contains(why), "{err}");
        }
    }

    #[test]
    fn a_program_that_hangs_is_killed_at_the_timeout() {
        let t = TtsCommand {
            timeout_ms: 200,
            ..sh("sleep 10")
        };
        let start = std::time::Instant::now();
        let err = t.synthesize("hello", CallFormat::Narrowband).unwrap_err();
        assert!(matches!(err, TtsError::Timeout { .. }), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn a_program_that_writes_too_much_or_not_audio_is_refused() {
        let t = TtsCommand {
            max_output_bytes: 1000,
            ..sh("head -c 5000 /dev/zero")
        };
        let err = t.synthesize("hello", CallFormat::Narrowband).unwrap_err();
        assert!(err.to_string().contains("more than 1000 bytes"), "{err}");
        let err = sh("echo I am not a WAV")
            .synthesize("hello", CallFormat::Narrowband)
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("the output of sh is not a WAV audio file"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_program_is_named() {
        let t = TtsCommand {
            command: vec!["/nonexistent/tts".into()],
            ..TtsCommand::default()
        };
        let err = t.synthesize("hello", CallFormat::Narrowband).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/tts"), "{err}");
    }

    #[test]
    fn espeak_ng_speaks_a_sentence_into_a_clip_of_the_call_format() {
        // espeak-ng is a test dependency (Debian package espeak-ng), as it is in CI.
        let clip = TtsCommand::default()
            .synthesize(
                "Hello, you have reached the voice bot.",
                CallFormat::Narrowband,
            )
            .unwrap();
        assert_eq!(clip.format(), CallFormat::Narrowband);
        let d = clip.duration();
        assert!(
            d > Duration::from_millis(1000) && d < Duration::from_secs(6),
            "{d:?}"
        );
        let loud = clip
            .samples()
            .iter()
            .filter(|s| s.unsigned_abs() > 1000)
            .count();
        assert!(loud > 1000, "speech, not silence");
    }
}
