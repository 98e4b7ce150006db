//! smstools' own configuration (`/etc/smsd.conf`, or `--smstools-conf PATH`), read the
//! way smsd 3.1.21 reads it, so that the bot and smsd can never disagree about where the
//! spool folders are or what the modem is called.
//!
//! This module owns [`SmsdConf`]: the global spool folders (with smsd's own defaults when
//! a key is absent), the `devices` list and each modem's section (`[default]` first, then
//! `[NAME]`, as smsd applies them), and the few settings that change the spool's file
//! formats. Parsing is pure ([`SmsdConf::parse`]); [`SmsdConf::load`] only reads the file.
//!
//! smsd's rules, mirrored (smstools 3.1.21 `cfgfile.c`, `smsd_cfg.c`):
//! - only whole-line comments (`#` after optional blanks); trailing blanks are cut;
//! - `name = value`, names case-insensitive, the last occurrence wins; a line without
//!   `=` is a syntax error (smsd refuses to start on it, so do we);
//! - global settings are the lines before the first `[section]`;
//! - `devices = GSM1, GSM2` or the range form `GSM*1-4`; names of letters, digits and
//!   `_-.`, never `default`, `modemname` or `ALL`;
//! - a value starting with `?` offers choices `?a|b`; smsd without `-a` takes the first;
//! - in a modem section, `modemname` inside `device` is replaced by the modem's name.
//!
//! Defaults when a key is absent (smsd's `initcfg`): outgoing `/var/spool/sms/outgoing`,
//! incoming `/var/spool/sms/incoming`, checked `/var/spool/sms/checked`; no failed and no
//! sent folder (smsd then deletes such files, and so does the spool here).

use std::path::{Path, PathBuf};

use super::SpoolError;

/// The configuration smsd reads without `-c`.
pub const DEFAULT_SMSD_CONF: &str = "/etc/smsd.conf";
/// smsd's default outgoing folder.
pub const DEFAULT_OUTGOING: &str = "/var/spool/sms/outgoing";
/// smsd's default incoming folder.
pub const DEFAULT_INCOMING: &str = "/var/spool/sms/incoming";
/// smsd's default checked folder.
pub const DEFAULT_CHECKED: &str = "/var/spool/sms/checked";
/// The longest configuration file read (smsd.conf files are a few kilobytes; a bigger
/// file is not a configuration).
pub const MAX_CONF_BYTES: u64 = 1024 * 1024;
/// The most modems smsd supports (its NUMBER_OF_MODEMS default).
pub const MAX_DEVICES: usize = 64;

/// One modem of smsd's `devices` list, from `[default]` and its own section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModemSection {
    /// The modem's name (`GSM1`): smsd's incoming file names, `Modem:` and `Subject:`.
    pub name: String,
    /// The port (`device =`).
    pub device: PathBuf,
    /// Whether smsd reads incoming messages with this modem (`incoming =`, default no).
    pub incoming: bool,
    /// Whether smsd sends with this modem (`outgoing =`, default yes).
    pub outgoing: bool,
    /// `decode_unicode_text` for this modem, `None` when the global one applies.
    pub decode_unicode_text: Option<bool>,
    /// `report =` (request status reports by default), default no.
    pub report: bool,
}

/// What the bot needs from smsd.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsdConf {
    /// The file read.
    pub path: PathBuf,
    /// `outgoing =` (or its old name `spool =`).
    pub outgoing: PathBuf,
    /// `checked =`: smsd's main process moves checked files here; its modem processes send
    /// from here, so a file can wait here when smsd stopped.
    pub checked: PathBuf,
    /// `incoming =`.
    pub incoming: PathBuf,
    /// `failed =`; `None`: failed files are deleted.
    pub failed: Option<PathBuf>,
    /// `sent =`; `None`: sent files are deleted.
    pub sent: Option<PathBuf>,
    /// `suspend =`, smsd's suspend file, if configured.
    pub suspend: Option<PathBuf>,
    /// `decode_unicode_text` (default no: UCS-2 texts stay UCS-2 in incoming files).
    pub decode_unicode_text: bool,
    /// `incoming_utf8` (default no: GSM texts are written as ISO-8859-15).
    pub incoming_utf8: bool,
    /// `outgoing_utf8` (default yes: outgoing texts that are valid UTF-8 are read as such).
    pub outgoing_utf8: bool,
    /// The modems, in `devices` order.
    pub modems: Vec<ModemSection>,
}

/// One meaningful line: its number (1-based) and its text without comment or blanks.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    number: usize,
    text: &'a str,
}

/// A `name = value` setting with its line number.
#[derive(Debug, Clone)]
struct Setting {
    line: usize,
    name: String,
    value: String,
}

/// The lines of one `[section]`.
#[derive(Debug, Clone)]
struct Section {
    name: String,
    settings: Vec<Setting>,
}

fn meaningful_lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    text.lines().enumerate().filter_map(|(i, raw)| {
        // cutcomment(): leading blanks go, a leading '#' makes the line empty, then every
        // trailing byte <= ' ' goes.
        let t = raw.trim_start_matches([' ', '\t']);
        if t.starts_with('#') {
            return None;
        }
        let t = t.trim_end_matches(|c: char| c <= ' ');
        (!t.is_empty()).then_some(Line {
            number: i + 1,
            text: t,
        })
    })
}

/// smsd's ask_value() without `-a`: `?first|second` means `first`.
fn first_choice(value: &str) -> String {
    match value.strip_prefix('?') {
        Some(rest) => {
            let rest = rest.trim_start_matches(['?', ' ', '\t']);
            rest.split('|').next().unwrap_or("").trim().to_string()
        }
        None => value.to_string(),
    }
}

impl SmsdConf {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<SmsdConf, SpoolError> {
        let meta = std::fs::metadata(path).map_err(SpoolError::io("cannot read", path))?;
        if meta.len() > MAX_CONF_BYTES {
            return Err(SpoolError::Conf {
                file: path.to_path_buf(),
                line: 0,
                problem: format!(
                    "the file is {} bytes, more than the {MAX_CONF_BYTES} an smsd.conf can be",
                    meta.len()
                ),
            });
        }
        let bytes = std::fs::read(path).map_err(SpoolError::io("cannot read", path))?;
        // smsd reads bytes; paths are ASCII in practice, and a non-UTF-8 byte elsewhere
        // (a comment in Latin-1) must not stop us.
        let text = String::from_utf8_lossy(&bytes);
        SmsdConf::parse(&text, path)
    }

    /// Parses the text of an smsd.conf; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<SmsdConf, SpoolError> {
        let err = |line: usize, problem: String| SpoolError::Conf {
            file: path.to_path_buf(),
            line,
            problem,
        };
        let mut global: Vec<Setting> = Vec::new();
        let mut sections: Vec<Section> = Vec::new();
        for line in meaningful_lines(text) {
            if let Some(rest) = line.text.strip_prefix('[') {
                let Some(end) = rest.find(']') else {
                    return Err(err(
                        line.number,
                        format!("section header {:?} has no closing ']'", line.text),
                    ));
                };
                sections.push(Section {
                    name: rest.get(..end).unwrap_or("").to_string(),
                    settings: Vec::new(),
                });
                continue;
            }
            let Some((name, value)) = line.text.split_once('=') else {
                return Err(err(
                    line.number,
                    format!(
                        "syntax error: {:?} is not `name = value` (smsd refuses it too)",
                        line.text
                    ),
                ));
            };
            let name = name.trim();
            if name.is_empty() {
                return Err(err(
                    line.number,
                    format!("syntax error: {:?} has no name before '='", line.text),
                ));
            }
            let setting = Setting {
                line: line.number,
                name: name.to_ascii_lowercase(),
                value: first_choice(value.trim()),
            };
            match sections.last_mut() {
                Some(s) => s.settings.push(setting),
                None => global.push(setting),
            }
        }

        let last = |settings: &[Setting], names: &[&str]| -> Option<Setting> {
            settings
                .iter()
                .rfind(|s| names.contains(&s.name.as_str()))
                .cloned()
        };
        let folder =
            |names: &[&str], default: Option<&str>| -> Result<Option<PathBuf>, SpoolError> {
                match last(&global, names) {
                    Some(s) if s.value.is_empty() => Ok(None),
                    Some(s) if !s.value.starts_with('/') => Err(err(
                        s.line,
                        format!(
                            "`{} = {}` is not an absolute path (smsd would resolve it against its \
                         working directory, which the bot cannot know)",
                            s.name, s.value
                        ),
                    )),
                    Some(s) => Ok(Some(PathBuf::from(s.value))),
                    None => Ok(default.map(PathBuf::from)),
                }
            };
        let required = |names: &[&str], default: &str| -> Result<PathBuf, SpoolError> {
            folder(names, Some(default))?.ok_or_else(|| {
                err(
                    last(&global, names).map_or(0, |s| s.line),
                    format!(
                        "`{}` is empty: smsd needs this folder",
                        names.first().unwrap_or(&"")
                    ),
                )
            })
        };
        let flag = |settings: &[Setting], name: &str| -> Result<Option<bool>, SpoolError> {
            last(settings, &[name])
                .map(|s| {
                    yes_no(&s.value).ok_or_else(|| {
                        err(
                            s.line,
                            format!("`{name} = {}` is neither yes nor no", s.value),
                        )
                    })
                })
                .transpose()
        };

        let outgoing = required(&["outgoing", "spool"], DEFAULT_OUTGOING)?;
        let checked = required(&["checked"], DEFAULT_CHECKED)?;
        let incoming = required(&["incoming"], DEFAULT_INCOMING)?;
        let failed = folder(&["failed"], None)?;
        let sent = folder(&["sent"], None)?;
        let suspend = folder(&["suspend"], None)?;
        let decode_unicode_text = flag(&global, "decode_unicode_text")?.unwrap_or(false);
        let incoming_utf8 = flag(&global, "incoming_utf8")?.unwrap_or(false);
        let outgoing_utf8 = flag(&global, "outgoing_utf8")?.unwrap_or(true);

        let Some(devices) = last(&global, &["devices"]) else {
            return Err(err(
                0,
                "there is no `devices =` line: smsd needs at least one modem".into(),
            ));
        };
        let names = device_names(&devices.value).map_err(|p| err(devices.line, p))?;
        let default = sections.iter().find(|s| s.name == "default");
        let mut modems = Vec::with_capacity(names.len());
        for name in names {
            let own = sections.iter().find(|s| s.name == name);
            // [default] first, then the modem's own section: later lines win.
            let settings: Vec<Setting> = default
                .into_iter()
                .chain(own)
                .flat_map(|s| s.settings.iter().cloned())
                .collect();
            let Some(device) = last(&settings, &["device"]) else {
                return Err(err(
                    own.and_then(|s| s.settings.first())
                        .map_or(devices.line, |s| s.line),
                    format!("modem {name} has no `device =` (in a [{name}] or [default] section)"),
                ));
            };
            let device = device.value.replace("modemname", &name);
            if device.is_empty() {
                return Err(err(0, format!("modem {name} has an empty `device =`")));
            }
            let incoming = match last(&settings, &["incoming"]) {
                // smsd: a number (0, 1, 2), "high", or yes/no.
                Some(s) if s.value.eq_ignore_ascii_case("high") => true,
                Some(s) => match s.value.parse::<i64>() {
                    Ok(n) => n != 0,
                    Err(_) => yes_no(&s.value).ok_or_else(|| {
                        err(
                            s.line,
                            format!(
                                "modem {name}: `incoming = {}` is neither yes nor no",
                                s.value
                            ),
                        )
                    })?,
                },
                None => false,
            };
            modems.push(ModemSection {
                incoming,
                outgoing: flag(&settings, "outgoing")?.unwrap_or(true),
                decode_unicode_text: flag(&settings, "decode_unicode_text")?,
                report: match last(&settings, &["report"]) {
                    Some(s) if s.value.eq_ignore_ascii_case("disabled") => false,
                    _ => flag(&settings, "report")?.unwrap_or(false),
                },
                device: PathBuf::from(device),
                name,
            });
        }
        Ok(SmsdConf {
            path: path.to_path_buf(),
            outgoing,
            checked,
            incoming,
            failed,
            sent,
            suspend,
            decode_unicode_text,
            incoming_utf8,
            outgoing_utf8,
            modems,
        })
    }

    /// The modem called `name`.
    pub fn modem(&self, name: &str) -> Option<&ModemSection> {
        self.modems.iter().find(|m| m.name == name)
    }

    /// The modem whose `device` is `port`, comparing the paths as given and, when both
    /// exist, the files they resolve to (so `/dev/sim7600-at` matches `/dev/ttyUSB2`).
    pub fn modem_for_port(&self, port: &Path) -> Option<&ModemSection> {
        let resolved = std::fs::canonicalize(port).ok();
        self.modems.iter().find(|m| {
            m.device == port
                || (resolved.is_some() && std::fs::canonicalize(&m.device).ok() == resolved)
        })
    }

    /// The modem the bot stands in for on `port`: the one whose device it is, or, when
    /// smsd.conf names a single modem, that one. An error names the file and the choice.
    pub fn modem_for_bot(&self, port: &Path) -> Result<&ModemSection, SpoolError> {
        if let Some(m) = self.modem_for_port(port) {
            return Ok(m);
        }
        match self.modems.as_slice() {
            [only] => Ok(only),
            many => Err(SpoolError::Conf {
                file: self.path.clone(),
                line: 0,
                problem: format!(
                    "no modem has `device = {}` and there are {} modems ({}): cannot tell which \
                     one the bot replaces",
                    port.display(),
                    many.len(),
                    many.iter()
                        .map(|m| m.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }

    /// Whether incoming UCS-2 texts of `modem` are decoded (to ISO-8859-15 or UTF-8)
    /// instead of written as UCS-2.
    pub fn decodes_unicode(&self, modem: &ModemSection) -> bool {
        modem
            .decode_unicode_text
            .unwrap_or(self.decode_unicode_text)
    }
}

/// smsd's yesno_check().
fn yes_no(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "on" | "1" => Some(true),
        "no" | "n" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// The `devices` list: names separated by commas, or smsd's range form `GSM*1-4`.
fn device_names(list: &str) -> Result<Vec<String>, String> {
    let expanded: Vec<String> = match (list.find('*'), list.contains('-')) {
        (Some(star), true) => {
            let prefix = list.get(..star).unwrap_or("");
            let range = list.get(star + 1..).unwrap_or("");
            let (from, to) = range
                .split_once('-')
                .and_then(|(a, b)| {
                    Some((a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?))
                })
                .ok_or_else(|| format!("`devices = {list}`: the range after '*' is not FROM-TO"))?;
            if to < from || (to - from) as usize >= MAX_DEVICES {
                return Err(format!(
                    "`devices = {list}`: the range {from}-{to} is empty or longer than {MAX_DEVICES}"
                ));
            }
            (from..=to).map(|i| format!("{prefix}{i}")).collect()
        }
        _ => list
            .split(',')
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect(),
    };
    if expanded.is_empty() {
        return Err("`devices =` names no modem".into());
    }
    if expanded.len() > MAX_DEVICES {
        return Err(format!(
            "`devices =` names {} modems, more than smsd's {MAX_DEVICES}",
            expanded.len()
        ));
    }
    for name in &expanded {
        if let Some(c) = name
            .chars()
            .find(|c| !c.is_ascii_alphanumeric() && !"_-.".contains(*c))
        {
            return Err(format!(
                "modem name {name:?} has the character {c:?} (smsd allows letters, digits and _-.)"
            ));
        }
        if ["default", "modemname", "ALL"].contains(&name.as_str()) {
            return Err(format!(
                "a modem cannot be called {name:?} (smsd reserves it)"
            ));
        }
    }
    Ok(expanded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SmsdConf, SpoolError> {
        SmsdConf::parse(text, Path::new("/etc/smsd.conf"))
    }

    #[test]
    fn a_minimal_file_gets_smsd_own_default_folders_and_no_sent_or_failed() {
        let c = parse("devices = GSM1\n[GSM1]\ndevice = /dev/ttyUSB2\n").unwrap();
        assert_eq!(c.outgoing, Path::new(DEFAULT_OUTGOING));
        assert_eq!(c.checked, Path::new(DEFAULT_CHECKED));
        assert_eq!(c.incoming, Path::new(DEFAULT_INCOMING));
        assert_eq!(c.failed, None);
        assert_eq!(c.sent, None);
        assert!(c.outgoing_utf8);
        assert!(!c.decode_unicode_text);
        assert_eq!(c.modems.len(), 1);
        assert_eq!(c.modems[0].name, "GSM1");
        assert_eq!(c.modems[0].device, Path::new("/dev/ttyUSB2"));
        assert!(!c.modems[0].incoming, "smsd's default is incoming = no");
    }

    #[test]
    fn the_last_occurrence_wins_and_spool_is_the_old_name_of_outgoing() {
        let c = parse(
            "devices = GSM1\nspool = /a\noutgoing = /b\nsent = /s1\nsent = /s2\n\
             [GSM1]\ndevice = /dev/x\n",
        )
        .unwrap();
        assert_eq!(c.outgoing, Path::new("/b"));
        assert_eq!(c.sent.as_deref(), Some(Path::new("/s2")));
    }

    #[test]
    fn comments_count_only_at_the_start_of_a_line() {
        // smsd 3.1.5+: "Only whole line comments are allowed", so a '#' later is data.
        let c = parse(
            "   # a comment\ndevices = GSM1\nincoming = /in#box\n[GSM1]\ndevice = /dev/x  \n",
        )
        .unwrap();
        assert_eq!(c.incoming, Path::new("/in#box"));
        assert_eq!(c.modems[0].device, Path::new("/dev/x"));
    }

    #[test]
    fn names_are_case_insensitive_and_section_names_are_not() {
        let c = parse(
            "DEVICES = GSM1\nOutGoing = /o\n[GSM1]\nDevice = /dev/a\n[gsm1]\ndevice = /dev/b\n",
        )
        .unwrap();
        assert_eq!(c.outgoing, Path::new("/o"));
        assert_eq!(c.modems[0].device, Path::new("/dev/a"));
    }

    #[test]
    fn the_default_section_applies_first_and_the_modem_section_overrides_it() {
        let c = parse(
            "devices = GSM1, GSM2\n[default]\ndevice = /dev/modemname\nincoming = yes\n\
             [GSM2]\ndevice = /dev/ttyUSB7\nincoming = no\n",
        )
        .unwrap();
        assert_eq!(c.modems[0].device, Path::new("/dev/GSM1"));
        assert!(c.modems[0].incoming);
        assert_eq!(c.modems[1].device, Path::new("/dev/ttyUSB7"));
        assert!(!c.modems[1].incoming);
    }

    #[test]
    fn a_device_range_expands_like_smsd() {
        let c = parse("devices = GSM*1-3\n[default]\ndevice = /dev/modemname\n").unwrap();
        let names: Vec<_> = c.modems.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["GSM1", "GSM2", "GSM3"]);
    }

    #[test]
    fn incoming_accepts_numbers_high_and_yes_no() {
        for (v, want) in [
            ("1", true),
            ("2", true),
            ("0", false),
            ("high", true),
            ("yes", true),
            ("no", false),
        ] {
            let c = parse(&format!("devices = G\n[G]\ndevice = /d\nincoming = {v}\n")).unwrap();
            assert_eq!(c.modems[0].incoming, want, "incoming = {v}");
        }
    }

    #[test]
    fn an_ask_value_takes_its_first_choice() {
        let c = parse("devices = G\noutgoing = ?/first|/second\n[G]\ndevice = /d\n").unwrap();
        assert_eq!(c.outgoing, Path::new("/first"));
    }

    #[test]
    fn a_line_without_equals_is_refused_with_file_and_line() {
        let e = parse("devices = GSM1\njust words\n[GSM1]\ndevice = /d\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("/etc/smsd.conf"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
        assert!(msg.contains("just words"), "{msg}");
    }

    #[test]
    fn an_unclosed_section_header_is_refused() {
        let e = parse("devices = GSM1\n[GSM1\ndevice = /d\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn no_devices_line_is_refused() {
        let e = parse("outgoing = /o\n").unwrap_err();
        assert!(e.to_string().contains("devices"), "{e}");
    }

    #[test]
    fn a_modem_without_a_device_is_refused_naming_the_modem() {
        let e = parse("devices = GSM1\n[GSM1]\nincoming = yes\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("GSM1") && msg.contains("device"), "{msg}");
    }

    #[test]
    fn reserved_and_odd_modem_names_are_refused() {
        for list in ["default", "ALL", "GSM 1", "GSM/1", "modemname"] {
            let e = parse(&format!("devices = {list}\n[default]\ndevice = /d\n"));
            assert!(e.is_err(), "devices = {list} was accepted");
        }
    }

    #[test]
    fn a_relative_folder_is_refused() {
        let e = parse("devices = G\nincoming = spool/in\n[G]\ndevice = /d\n").unwrap_err();
        assert!(e.to_string().contains("absolute"), "{e}");
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn a_bad_yes_no_value_is_refused() {
        let e =
            parse("devices = G\ndecode_unicode_text = perhaps\n[G]\ndevice = /d\n").unwrap_err();
        assert!(e.to_string().contains("perhaps"), "{e}");
    }

    #[test]
    fn an_empty_sent_line_means_no_sent_folder() {
        let c = parse("devices = G\nsent =\n[G]\ndevice = /d\n").unwrap();
        assert_eq!(c.sent, None);
    }

    #[test]
    fn the_bot_finds_its_modem_by_port_or_as_the_only_one() {
        let c = parse("devices = A, B\n[A]\ndevice = /dev/ttyUSB2\n[B]\ndevice = /dev/ttyUSB5\n")
            .unwrap();
        assert_eq!(
            c.modem_for_bot(Path::new("/dev/ttyUSB5")).unwrap().name,
            "B"
        );
        let e = c.modem_for_bot(Path::new("/dev/ttyACM0")).unwrap_err();
        assert!(e.to_string().contains("A, B"), "{e}");
        let one = parse("devices = GSM1\n[GSM1]\ndevice = /dev/ttyS0\n").unwrap();
        assert_eq!(
            one.modem_for_bot(Path::new("/dev/ttyUSB2")).unwrap().name,
            "GSM1"
        );
    }

    #[test]
    fn decode_unicode_text_per_modem_overrides_the_global_one() {
        let c = parse(
            "devices = A, B\ndecode_unicode_text = yes\n[A]\ndevice = /a\n[B]\ndevice = /b\n\
             decode_unicode_text = no\n",
        )
        .unwrap();
        assert!(c.decodes_unicode(&c.modems[0]));
        assert!(!c.decodes_unicode(&c.modems[1]));
    }
}
