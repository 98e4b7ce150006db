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
    /// `eventhandler =` of this modem (it wins over the global one), if set.
    pub eventhandler: Option<String>,
    /// `messageids =`: which part's reference the `SENT` event passes (1 first, 2 last,
    /// 3 all), default 2.
    pub messageids: u8,
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
    /// `eventhandler =` (global), if set.
    pub eventhandler: Option<String>,
    /// `shell =`, what runs the eventhandler's line (default /bin/sh).
    pub shell: PathBuf,
    /// The modems, in `devices` order.
    pub modems: Vec<ModemSection>,
    /// Every setting as written, for [`SmsdConf::unused_settings`].
    pub settings: Vec<ConfSetting>,
}

/// One `name = value` line of smsd.conf as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfSetting {
    /// The section (`None`: the global lines before the first section).
    pub section: Option<String>,
    /// The line number (1-based).
    pub line: usize,
    /// The name, lower case.
    pub name: String,
    /// The value (an ask-value's first choice).
    pub value: String,
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

        let text_setting = |settings: &[Setting], name: &str| -> Option<String> {
            last(settings, &[name])
                .map(|s| s.value)
                .filter(|v| !v.is_empty())
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
            let messageids = match last(&settings, &["messageids"]) {
                Some(s) => match s.value.parse::<u8>() {
                    Ok(n @ 1..=3) => n,
                    _ => {
                        return Err(err(
                            s.line,
                            format!(
                                "modem {name}: `messageids = {}` is not 1, 2 or 3 (smsd refuses it too)",
                                s.value
                            ),
                        ));
                    }
                },
                None => 2,
            };
            modems.push(ModemSection {
                eventhandler: text_setting(&settings, "eventhandler"),
                messageids,
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
        let mut all: Vec<ConfSetting> = global
            .iter()
            .map(|s| ConfSetting {
                section: None,
                line: s.line,
                name: s.name.clone(),
                value: s.value.clone(),
            })
            .collect();
        for section in &sections {
            all.extend(section.settings.iter().map(|s| ConfSetting {
                section: Some(section.name.clone()),
                line: s.line,
                name: s.name.clone(),
                value: s.value.clone(),
            }));
        }
        Ok(SmsdConf {
            eventhandler: text_setting(&global, "eventhandler"),
            shell: text_setting(&global, "shell").map_or_else(
                || PathBuf::from(super::eventhandler::DEFAULT_SHELL),
                PathBuf::from,
            ),
            settings: all,
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

    /// The value of a global (before any section) setting, by its lower-case name; the
    /// last one written wins, as in smsd.
    pub fn global(&self, name: &str) -> Option<&str> {
        self.settings
            .iter()
            .rev()
            .find(|s| s.section.is_none() && s.name == name)
            .map(|s| s.value.as_str())
    }

    /// The eventhandler smsd runs for `modem`: its own, else the global one.
    pub fn eventhandler_for<'a>(&'a self, modem: &'a ModemSection) -> Option<&'a str> {
        modem
            .eventhandler
            .as_deref()
            .or(self.eventhandler.as_deref())
    }

    /// One line for each setting of smsd.conf that changes what smsd does on the port or
    /// in the spool and that the bot does not follow while it holds the port (see
    /// [`KEYS`]): global settings, and those of `modem`'s `[default]` and own section.
    pub fn unused_settings(&self, modem: &ModemSection) -> Vec<String> {
        let applies = |s: &ConfSetting| match &s.section {
            None => true,
            Some(name) => name == "default" || *name == modem.name,
        };
        // The last line of each name wins, as in smsd; one warning per name.
        let mut lines: Vec<(usize, String)> = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for setting in self.settings.iter().rev().filter(|s| applies(s)) {
            if seen.contains(&setting.name.as_str()) {
                continue;
            }
            seen.push(&setting.name);
            if setting.name == "incoming" && setting.section.is_some() {
                // In a modem section: whether smsd reads received messages at all.
                if !modem.incoming {
                    lines.push((
                        setting.line,
                        format!(
                            "smsd.conf: `incoming = {}` is not used while the bot holds the port: \
                             the bot reads received messages into incoming/ all the same",
                            setting.value
                        ),
                    ));
                }
                continue;
            }
            let Some(key) = KEYS
                .iter()
                .find(|k| k.names.contains(&setting.name.as_str()))
            else {
                continue;
            };
            if key.is_followed(&setting.value) {
                continue;
            }
            let shown = if matches!(key.followed, Followed::Never) {
                format!("`{}`", setting.name)
            } else {
                format!("`{} = {}`", setting.name, setting.value)
            };
            lines.push((
                setting.line,
                format!(
                    "smsd.conf: {shown} is not used while the bot holds the port: {}",
                    key.bot
                ),
            ));
        }
        lines.sort();
        lines.into_iter().map(|(_, l)| l).collect()
    }

    /// Whether incoming UCS-2 texts of `modem` are decoded (to ISO-8859-15 or UTF-8)
    /// instead of written as UCS-2.
    pub fn decodes_unicode(&self, modem: &ModemSection) -> bool {
        modem
            .decode_unicode_text
            .unwrap_or(self.decode_unicode_text)
    }
}

/// Which values of a key the bot follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Followed {
    /// Every value: the bot does what smsd does.
    Always,
    /// None: any non-empty value is named in a warning.
    Never,
    /// These values (case-insensitive); any other is named in a warning.
    Values(&'static [&'static str]),
}

/// One key of smsd.conf that changes what smsd does on the port or in the spool, and
/// what the bot does about it (docs/spool.md has the same table).
#[derive(Debug, Clone, Copy)]
pub struct ConfKey {
    /// Its names (an old name too).
    pub names: &'static [&'static str],
    /// What smsd does with it.
    pub smsd: &'static str,
    /// What the bot does while it holds the port.
    pub bot: &'static str,
    /// Which values the bot follows.
    pub followed: Followed,
}

impl ConfKey {
    fn is_followed(&self, value: &str) -> bool {
        match self.followed {
            Followed::Always => true,
            Followed::Never => value.is_empty(),
            Followed::Values(ok) => {
                value.is_empty() || ok.iter().any(|v| v.eq_ignore_ascii_case(value))
            }
        }
    }
}

const YES: &[&str] = &["yes", "y", "true", "on", "1"];
const NO: &[&str] = &["no", "n", "false", "off", "0"];

/// The keys of smsd.conf that change what smsd does on the port or in the spool.
pub const KEYS: &[ConfKey] = &[
    ConfKey {
        names: &["outgoing", "spool", "checked", "incoming", "sent", "failed"],
        smsd: "its spool folders (`incoming` in a modem section: whether it reads received messages)",
        bot: "the same folders; received messages are read whatever a modem's `incoming` says",
        followed: Followed::Always,
    },
    ConfKey {
        names: &["eventhandler"],
        smsd: "runs it for every file it writes or moves: RECEIVED, REPORT, SENT, FAILED",
        bot: "runs it the same way, off the port loop, each call at most 60 s",
        followed: Followed::Always,
    },
    ConfKey {
        names: &["messageids"],
        smsd: "which part's reference SENT passes (1 first, 2 last, 3 all)",
        bot: "the same",
        followed: Followed::Always,
    },
    ConfKey {
        names: &["shell"],
        smsd: "the shell that runs the eventhandler",
        bot: "the same",
        followed: Followed::Always,
    },
    ConfKey {
        names: &["report"],
        smsd: "asks for a status report for every message (`Report:` in a file overrides it) and writes each report into incoming/",
        bot: "the same; reports that arrive as +CDS or are read from the SIM become smsd's report files",
        followed: Followed::Always,
    },
    ConfKey {
        names: &["outgoing_utf8"],
        smsd: "reads outgoing texts as UTF-8 when they are",
        bot: "the same",
        followed: Followed::Always,
    },
    ConfKey {
        names: &["cs_convert"],
        smsd: "converts outgoing texts to the GSM alphabet (default yes)",
        bot: "always converts (GSM 7-bit, or UCS-2 when the text needs it)",
        followed: Followed::Values(YES),
    },
    ConfKey {
        names: &["decode_unicode_text"],
        smsd: "writes received UCS-2 texts decoded",
        bot: "writes UCS-2 texts as UCS-2 (smsd's default format)",
        followed: Followed::Values(NO),
    },
    ConfKey {
        names: &["incoming_utf8"],
        smsd: "writes received GSM texts as UTF-8",
        bot: "writes them as ISO-8859-15 (smsd's default format)",
        followed: Followed::Values(NO),
    },
    ConfKey {
        names: &["autosplit"],
        smsd: "how a long text is split (3, the default: concatenated parts)",
        bot: "always sends concatenated parts",
        followed: Followed::Values(&["3"]),
    },
    ConfKey {
        names: &["memory_start"],
        smsd: "the number of the first storage slot (0 or 1)",
        bot: "reads the slots +CMTI names and scans from slot 0 to the storage's size",
        followed: Followed::Always,
    },
    ConfKey {
        names: &["check_memory_method"],
        smsd: "how it finds stored messages (AT+CPMS?, AT+CMGL variants)",
        bot: "reads the slots +CMTI names and scans the storage AT+CPMS? describes, one AT+CMGR per slot",
        followed: Followed::Values(&["1"]),
    },
    ConfKey {
        names: &["primary_memory", "secondary_memory", "secondary_memory_max"],
        smsd: "selects the message storage (AT+CPMS=)",
        bot: "uses the storage the modem has selected",
        followed: Followed::Never,
    },
    ConfKey {
        names: &["receive_before_send"],
        smsd: "reads received messages before sending each file",
        bot: "always reads waiting slots before the next part it sends",
        followed: Followed::Always,
    },
    ConfKey {
        names: &["send_delay"],
        smsd: "pauses between the characters it writes",
        bot: "writes each command at once",
        followed: Followed::Values(&["0"]),
    },
    ConfKey {
        names: &["pre_init", "init", "init1", "init2"],
        smsd: "sends these AT commands when it starts on the modem",
        bot: "sends its own set-up and none of these; smsd sends them again when it has the port back",
        followed: Followed::Never,
    },
    ConfKey {
        names: &["pin"],
        smsd: "enters the SIM PIN",
        bot: "enters no PIN: the SIM must already be unlocked (smsd does it before the bot starts)",
        followed: Followed::Never,
    },
    ConfKey {
        names: &["smsc"],
        smsd: "sends with this service centre number",
        bot: "sends with the service centre stored in the modem",
        followed: Followed::Never,
    },
    ConfKey {
        names: &["validity"],
        smsd: "asks for this validity period",
        bot: "sends without a validity period (the network's default)",
        followed: Followed::Never,
    },
    ConfKey {
        names: &["keep_messages"],
        smsd: "leaves read messages on the SIM (and stops after one pass)",
        bot: "deletes each message from the SIM once its file is in incoming/",
        followed: Followed::Values(NO),
    },
    ConfKey {
        names: &["ms_purge_hours", "ms_purge_minutes", "ms_purge_read"],
        smsd: "deletes parts of long messages from the SIM after this time",
        bot: "gives up unfinished long messages after `[bot] sms_parts_expiry_s` and keeps their parts as files",
        followed: Followed::Never,
    },
    ConfKey {
        names: &[
            "ic_purge_hours",
            "ic_purge_minutes",
            "ic_purge_read",
            "ic_purge_interval",
        ],
        smsd: "gives up unfinished long messages after this time",
        bot: "gives them up after `[bot] sms_parts_expiry_s` (default one hour)",
        followed: Followed::Never,
    },
    ConfKey {
        names: &["internal_combine", "internal_combine_binary"],
        smsd: "joins the parts of long messages itself (default yes)",
        bot: "always joins them",
        followed: Followed::Values(YES),
    },
    ConfKey {
        names: &[
            "eventhandler_use_copy",
            "incoming_copy",
            "sent_copy",
            "failed_copy",
            "report_copy",
        ],
        smsd: "copies files into a second folder (and runs the eventhandler on the copy)",
        bot: "makes no copies",
        followed: Followed::Never,
    },
    ConfKey {
        names: &["store_received_pdu", "store_sent_pdu"],
        smsd: "writes the PDU into the files (1, the default: only for a PDU it cannot read or a failed file)",
        bot: "writes no PDU lines",
        followed: Followed::Values(&["0", "1"]),
    },
    ConfKey {
        names: &["keep_filename"],
        smsd: "keeps an outgoing file's name in sent/ and failed/ (default yes)",
        bot: "keeps it",
        followed: Followed::Values(YES),
    },
    ConfKey {
        names: &["date_filename", "filename_preview"],
        smsd: "puts the date or the start of the text into the names of the files it writes",
        bot: "names incoming files GSM1.XXXXXX and keeps an outgoing file's name",
        followed: Followed::Values(&["0"]),
    },
    ConfKey {
        names: &["send_retries"],
        smsd: "how often it tries a file again (default 2)",
        bot: "tries a file 3 times",
        followed: Followed::Values(&["2"]),
    },
    ConfKey {
        names: &["hangup_incoming_call", "phonecalls", "voicecall_hangup_ath"],
        smsd: "hangs up or logs incoming calls",
        bot: "answers calls: that is what it is for",
        followed: Followed::Never,
    },
    ConfKey {
        names: &["mode"],
        smsd: "the PDU format of old modems (`old`)",
        bot: "speaks the modem's PDU format (`new`)",
        followed: Followed::Values(&["new"]),
    },
    ConfKey {
        names: &["queues", "checkhandler", "whitelist", "blacklist"],
        smsd: "routes, checks or filters outgoing and incoming messages",
        bot: "sends every file in outgoing/ and checked/ and keeps every received message",
        followed: Followed::Never,
    },
    ConfKey {
        names: &["sending_disabled"],
        smsd: "sends nothing (files stay in outgoing/)",
        bot: "sends",
        followed: Followed::Values(NO),
    },
];

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

    /// The shape of the smsd.conf of a public SIM7600G-H voice-bot deployment
    /// (github.com/romeoblanaru/jestson_STT_and_SMS_server, `config/etc/smsd.conf`): an
    /// eventhandler forwarding every SMS to a server, delivery reports, `init`/`init2`,
    /// `memory_start`, `cs_convert`, `send_delay`, per-modem keys in the modem's section.
    const DEPLOYMENT_CONF: &str = "\
devices = GSM1
outgoing = /var/spool/sms/outgoing
checked = /var/spool/sms/checked
incoming = /var/spool/sms/incoming
logfile = /var/log/smstools/smsd.log
failed = /var/spool/sms/failed
sent = /var/spool/sms/sent
loglevel = 5
receive_before_send = no
autosplit = 3
delaytime = 1
eventhandler = /usr/local/bin/sms_handler_unicode.py

[GSM1]
device = /dev/serial/by-id/usb-SimTech__Incorporated_SimTech__Incorporated_0123456789ABCDEF-if02-port0
incoming = yes
report = yes
baudrate = 115200
rtscts = no
cs_convert = yes
init = AT+CMEE=1
init2 = AT+CNMI=2,1,0,0,0
check_memory_method = 1
memory_start = 1
send_delay = 1
";

    #[test]
    fn a_deployment_conf_is_read_with_its_eventhandler_report_and_one_warning_per_unused_key() {
        let c = parse(DEPLOYMENT_CONF).unwrap();
        let m = &c.modems[0];
        assert!(m.report);
        assert_eq!(
            c.eventhandler_for(m),
            Some("/usr/local/bin/sms_handler_unicode.py")
        );
        assert_eq!(m.messageids, 2);
        assert_eq!(c.shell, Path::new("/bin/sh"));
        let warnings = c.unused_settings(m);
        let names: Vec<&str> = warnings
            .iter()
            .map(|w| w.split('`').nth(1).unwrap_or(""))
            .collect();
        assert_eq!(names, ["init", "init2", "send_delay = 1"], "{warnings:#?}");
        assert!(
            warnings[1]
                .starts_with("smsd.conf: `init2` is not used while the bot holds the port: "),
            "{}",
            warnings[1]
        );
        let more = parse(&format!(
            "{DEPLOYMENT_CONF}pin = 1234\ncheck_memory_method = 5\nkeep_messages = yes\n\
             smsc = 491722270333\ndecode_unicode_text = yes\n"
        ))
        .unwrap();
        let warned = more.unused_settings(&more.modems[0]).join("\n");
        for key in [
            "`pin`",
            "`check_memory_method = 5`",
            "`keep_messages = yes`",
            "`smsc`",
            "`decode_unicode_text = yes`",
        ] {
            assert!(warned.contains(key), "{key} not warned:\n{warned}");
        }
    }

    #[test]
    fn a_modem_eventhandler_wins_over_the_global_one_and_other_modems_sections_do_not_count() {
        let c = parse(
            "devices = A, B\neventhandler = /g\n[A]\ndevice = /a\neventhandler = /own\n\
             incoming = no\nmessageids = 3\n[B]\ndevice = /b\ninit = ATZ\n",
        )
        .unwrap();
        assert_eq!(c.eventhandler_for(&c.modems[0]), Some("/own"));
        assert_eq!(c.eventhandler_for(&c.modems[1]), Some("/g"));
        assert_eq!(c.modems[0].messageids, 3);
        let a = c.unused_settings(&c.modems[0]);
        assert_eq!(a.len(), 1, "{a:?}");
        assert!(a[0].contains("`incoming = no`"), "{a:?}");
        let b = c.unused_settings(&c.modems[1]);
        assert_eq!(b.len(), 1, "{b:?}");
        assert!(b[0].contains("`init`"), "{b:?}");
        assert!(parse("devices = A\n[A]\ndevice = /a\nmessageids = 4\n").is_err());
    }

    #[test]
    fn default_values_are_followed_and_raise_no_warning() {
        let c = parse(
            "devices = A\ncs_convert = yes\nincoming_utf8 = no\nautosplit = 3\n\
             [A]\ndevice = /a\nkeep_messages = no\nsend_delay = 0\ninit =\n",
        )
        .unwrap();
        assert_eq!(c.unused_settings(&c.modems[0]), Vec::<String>::new());
    }

    #[test]
    fn docs_spool_md_has_a_row_for_every_key() {
        let doc = include_str!("../../../docs/spool.md");
        for key in KEYS {
            for name in key.names {
                assert!(
                    doc.lines()
                        .any(|l| l.starts_with('|') && l.contains(&format!("`{name}`"))),
                    "docs/spool.md has no table row naming `{name}`"
                );
            }
        }
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
