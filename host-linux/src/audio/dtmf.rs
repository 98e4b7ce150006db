//! The DTMF menu: the optional `[dtmf]` table mapping a key the caller presses to an
//! action (play a file, speak a text, hang up).
//!
//! This module owns the table's shape, its validation and the decision, sans-I/O: the
//! bot's loop asks [`DtmfMenu::action`] for each key of a connected call and carries the
//! action out (hang up through its own hang-up path; play and speak through the call's
//! audio). A key without an entry does nothing but its event.
//!
//! ```toml
//! [dtmf]
//! "1" = { action = "play", file = "/var/lib/sim7600/menu/hours.wav" }
//! "2" = { action = "speak", text = "We are open from nine to five." }
//! "#" = { action = "hangup" }
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use modem_core::urc::DtmfKey;
use serde::{Deserialize, Serialize};

/// Longest text a `speak` action may have, in bytes (what the TTS command takes).
pub const MAX_SPEAK_BYTES: usize = crate::audio::tts::MAX_TEXT_BYTES;

/// What a key does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum MenuAction {
    /// Play a WAV file into the call, interrupting what plays.
    Play {
        /// The file (any common WAV; converted to the call's format).
        file: PathBuf,
    },
    /// Speak a text into the call (the `[audio]` TTS command), interrupting what plays.
    Speak {
        /// The text.
        text: String,
    },
    /// Hang up. (A struct variant so that a stray key beside it is refused.)
    Hangup {},
}

/// The `[dtmf]` table: key (`"0"`..`"9"`, `"A"`..`"D"`, `"*"`, `"#"`) to action.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DtmfMenu {
    keys: BTreeMap<String, MenuAction>,
}

/// A `[dtmf]` entry that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[dtmf] {key:?}: {problem}")]
pub struct DtmfMenuError {
    /// The key as written.
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

/// The one key a table key names (lower-case `a`-`d` read as `A`-`D`).
fn key_of(text: &str) -> Option<DtmfKey> {
    match text.as_bytes() {
        [b] => DtmfKey::from_ascii(*b),
        _ => None,
    }
}

impl DtmfMenu {
    /// A menu from `(key, action)` pairs (tests, programs that build one).
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = (&'a str, MenuAction)>) -> Self {
        Self {
            keys: entries
                .into_iter()
                .map(|(k, a)| (k.to_owned(), a))
                .collect(),
        }
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Every entry, by key as written.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &MenuAction)> {
        self.keys.iter().map(|(k, a)| (k.as_str(), a))
    }

    /// Checks every entry; the error names the key. Files are only checked for a
    /// non-empty path here; the bot loads them when it starts (with the call's format).
    pub fn validate(&self) -> Result<(), DtmfMenuError> {
        let mut seen: Vec<DtmfKey> = Vec::new();
        for (key, action) in &self.keys {
            let invalid = |problem: String| DtmfMenuError {
                key: key.clone(),
                problem,
            };
            let Some(k) = key_of(key) else {
                return Err(invalid("is not a DTMF key: one of 0-9, A-D, * or #".into()));
            };
            if seen.contains(&k) {
                return Err(invalid(format!("key {} is listed twice", k.as_char())));
            }
            seen.push(k);
            match action {
                MenuAction::Play { file } if file.as_os_str().is_empty() => {
                    return Err(invalid("`file` must not be empty".into()));
                }
                MenuAction::Speak { text } if text.trim().is_empty() => {
                    return Err(invalid("`text` must not be empty".into()));
                }
                MenuAction::Speak { text } if text.len() > MAX_SPEAK_BYTES => {
                    return Err(invalid(format!(
                        "`text` is {} bytes; at most {MAX_SPEAK_BYTES}",
                        text.len()
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// What `key` does during a connected call, if anything.
    pub fn action(&self, key: DtmfKey) -> Option<&MenuAction> {
        self.keys
            .iter()
            .find(|(k, _)| key_of(k) == Some(key))
            .map(|(_, a)| a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: u8) -> DtmfKey {
        DtmfKey::from_ascii(c).unwrap()
    }

    fn menu(text: &str) -> Result<DtmfMenu, String> {
        let m: DtmfMenu = toml::from_str(text).map_err(|e| e.to_string())?;
        m.validate().map_err(|e| e.to_string())?;
        Ok(m)
    }

    #[test]
    fn the_documented_menu_reads_and_decides_each_key() {
        let m = menu(
            "\"1\" = { action = \"play\", file = \"/var/lib/sim7600/menu/hours.wav\" }\n\
             \"2\" = { action = \"speak\", text = \"We are open from nine to five.\" }\n\
             \"#\" = { action = \"hangup\" }\n",
        )
        .unwrap();
        assert_eq!(m.action(key(b'#')), Some(&MenuAction::Hangup {}));
        assert_eq!(
            m.action(key(b'1')),
            Some(&MenuAction::Play {
                file: "/var/lib/sim7600/menu/hours.wav".into()
            })
        );
        assert!(
            matches!(m.action(key(b'2')), Some(MenuAction::Speak { text }) if text.contains("nine"))
        );
        assert_eq!(
            m.action(key(b'5')),
            None,
            "a key without an entry does nothing"
        );
    }

    #[test]
    fn a_lower_case_letter_names_the_same_key() {
        let m = menu("a = { action = \"hangup\" }\n").unwrap();
        assert_eq!(m.action(key(b'A')), Some(&MenuAction::Hangup {}));
    }

    #[test]
    fn no_table_is_an_empty_menu() {
        let m = DtmfMenu::default();
        assert!(m.is_empty());
        assert_eq!(m.action(key(b'#')), None);
    }

    #[test]
    fn bad_entries_are_refused_naming_the_key() {
        for (text, says) in [
            ("\"11\" = { action = \"hangup\" }", "not a DTMF key"),
            ("\"E\" = { action = \"hangup\" }", "not a DTMF key"),
            (
                "\"a\" = { action = \"hangup\" }\n\"A\" = { action = \"hangup\" }",
                "twice",
            ),
            (
                "\"1\" = { action = \"speak\", text = \"  \" }",
                "`text` must not be empty",
            ),
            (
                "\"1\" = { action = \"play\", file = \"\" }",
                "`file` must not be empty",
            ),
        ] {
            let e = menu(text).unwrap_err();
            assert!(e.starts_with("[dtmf]") && e.contains(says), "{text}: {e}");
        }
        let long = format!(
            "\"1\" = {{ action = \"speak\", text = \"{}\" }}",
            "x".repeat(MAX_SPEAK_BYTES + 1)
        );
        assert!(menu(&long).unwrap_err().contains("bytes"));
    }

    #[test]
    fn an_unknown_action_or_field_is_refused_by_toml() {
        assert!(menu("\"1\" = { action = \"dial\" }").is_err());
        assert!(menu("\"1\" = { action = \"hangup\", file = \"x\" }").is_err());
        assert!(
            menu("\"1\" = { action = \"play\" }").is_err(),
            "play needs a file"
        );
    }
}
