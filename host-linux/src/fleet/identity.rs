//! Which modem is which: a modem is named by its IMEI (what it says to `AT+CGSN`) and by
//! its USB path (which socket it is plugged into); its ttyUSB numbers are only where it
//! happens to be now.
//!
//! This module owns the selector of the config (`port`, `imei` or `usb_path`), the
//! identity records (`<identity_dir>/<usb_path>.json`, written by the bot each time it
//! initialises a modem, read by `sim7600 list` and by a bot that looks for an IMEI), and
//! the resolution of a selector to the AT port present now.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::sysfs::{self, SysfsRoots, UsbModem};
use crate::platform::durable::{self, DurableError, NewFile};

/// How the config names the modem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModemSelector {
    /// By its AT port (a device node or a udev symlink).
    Port(PathBuf),
    /// By the IMEI the modem reports.
    Imei(String),
    /// By the USB path of the socket it is plugged into.
    UsbPath(String),
}

impl std::fmt::Display for ModemSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModemSelector::Port(p) => write!(f, "port {}", p.display()),
            ModemSelector::Imei(i) => write!(f, "IMEI {i}"),
            ModemSelector::UsbPath(u) => write!(f, "USB path {u}"),
        }
    }
}

/// Whether `text` is an IMEI (15 decimal digits; 14 to 17 are accepted as modems report
/// them with or without the check digit and software version).
pub fn validate_imei(text: &str) -> Result<(), String> {
    if (14..=17).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!(
            "{text:?} is not an IMEI (15 decimal digits, as `sim7600 list` shows it)"
        ))
    }
}

/// What a bot learned about the modem it initialised: `<identity_dir>/<usb_path>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityRecord {
    /// The IMEI.
    pub imei: String,
    /// The USB path.
    pub usb_path: String,
    /// The AT port it was initialised on.
    pub port: PathBuf,
    /// The bot's process id.
    pub pid: u32,
    /// The bot's HTTP API address, for `sim7600 list` to ask.
    #[serde(default)]
    pub api: Option<String>,
    /// When, RFC 3339.
    pub at: String,
}

/// Why an identity record could not be written or a selector not resolved.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The record's folder could not be created, or the record not serialised.
    #[error("cannot write the modem identity record {}: {source}", file.display())]
    Write {
        /// The file.
        file: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The record could not be stored durably.
    #[error("modem identity record: {0}")]
    Store(DurableError),
    /// sysfs could not be read.
    #[error(transparent)]
    Sysfs(#[from] sysfs::SysfsError),
    /// No SIMCom modem at that USB path.
    #[error("no SIMCom modem at USB path {usb_path} (under {}); `sim7600 list` shows the modems present", sysfs.display())]
    NoModemAt {
        /// The path asked for.
        usb_path: String,
        /// The sysfs root read.
        sysfs: PathBuf,
    },
    /// The modem is there but the kernel shows no AT port for it (yet).
    #[error("the modem at USB path {usb_path} shows no AT port (interface {interface}) yet")]
    NoAtPort {
        /// The modem.
        usb_path: String,
        /// The interface looked for.
        interface: u8,
    },
    /// No modem present is known to have that IMEI.
    #[error(
        "no modem present is known to have IMEI {imei}: a modem's IMEI is learned when a bot \
         initialises it or `sim7600 list` can ask it (its AT port free); name it by \
         `usb_path` until then"
    )]
    UnknownImei {
        /// The IMEI.
        imei: String,
    },
}

/// The record's file for `usb_path`.
pub fn record_path(dir: &Path, usb_path: &str) -> PathBuf {
    dir.join(format!("{usb_path}.json"))
}

/// How a record file is written: readable by all (`sim7600 list` run by any user).
const RECORD_FILE: NewFile = NewFile::mode(0o644);

/// Writes `record` durably ([`durable::replace_file`]: a temporary file, fsynced,
/// renamed, the folder fsynced).
pub fn write_record(dir: &Path, record: &IdentityRecord) -> Result<(), IdentityError> {
    let file = record_path(dir, &record.usb_path);
    let error = |source| IdentityError::Write {
        file: file.clone(),
        source,
    };
    fs::create_dir_all(dir).map_err(error)?;
    let text = serde_json::to_string_pretty(record).map_err(|e| error(io::Error::other(e)))?;
    durable::replace_file(&file, format!("{text}\n").as_bytes(), RECORD_FILE)
        .map_err(IdentityError::Store)
}

/// The record for `usb_path`, `None` when there is none or it cannot be read (a record
/// is a hint that a later init checks, never a truth to stop on).
pub fn read_record(dir: &Path, usb_path: &str) -> Option<IdentityRecord> {
    let text = fs::read_to_string(record_path(dir, usb_path)).ok()?;
    serde_json::from_str(&text).ok()
}

/// The USB path a record names for `imei` among the modems present.
pub fn usb_path_of_imei<'a>(
    dir: &Path,
    modems: &'a [UsbModem],
    imei: &str,
) -> Option<&'a UsbModem> {
    modems
        .iter()
        .find(|m| read_record(dir, &m.usb_path).is_some_and(|r| r.imei == imei))
}

/// The AT port `selector` names now, and the USB path when known.
pub fn resolve(
    selector: &ModemSelector,
    roots: &SysfsRoots,
    identity_dir: &Path,
) -> Result<(PathBuf, Option<String>), IdentityError> {
    let at_port_of = |m: &UsbModem| match m.at_port() {
        Some(p) => Ok((p.node.clone(), Some(m.usb_path.clone()))),
        None => Err(IdentityError::NoAtPort {
            usb_path: m.usb_path.clone(),
            interface: m.at_interface(),
        }),
    };
    match selector {
        ModemSelector::Port(p) => {
            // A port needs no sysfs; the USB path is a bonus when sysfs shows it.
            let usb = sysfs::scan(roots)
                .ok()
                .and_then(|ms| sysfs::modem_of_port(&ms, p).map(|m| m.usb_path.clone()));
            Ok((p.clone(), usb))
        }
        ModemSelector::UsbPath(u) => match sysfs::modem_at(roots, u) {
            Some(m) => at_port_of(&m),
            None => Err(IdentityError::NoModemAt {
                usb_path: u.clone(),
                sysfs: roots.sysfs.clone(),
            }),
        },
        ModemSelector::Imei(imei) => {
            let modems = sysfs::scan(roots)?;
            match usb_path_of_imei(identity_dir, &modems, imei) {
                Some(m) => at_port_of(m),
                None => Err(IdentityError::UnknownImei { imei: imei.clone() }),
            }
        }
    }
}

/// Whether the IMEI the modem reported fits the selector (`Some(problem)` when not).
pub fn imei_mismatch(selector: &ModemSelector, reported: Option<&str>) -> Option<String> {
    let ModemSelector::Imei(wanted) = selector else {
        return None;
    };
    match reported {
        Some(r) if r == wanted => None,
        Some(r) => Some(format!(
            "the modem on this port has IMEI {r}, the config names IMEI {wanted}"
        )),
        None => Some(format!(
            "the modem did not tell its IMEI, the config names IMEI {wanted}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::sysfs::fake;
    use super::*;

    fn setup() -> (tempfile::TempDir, SysfsRoots, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let roots = fake::roots_under(dir.path());
        fake::add_modem(
            &roots,
            "1-1.2",
            "1e0e",
            "9001",
            &[(2, "ttyUSB2"), (4, "ttyUSB4")],
        )
        .unwrap();
        fake::add_modem(
            &roots,
            "1-1.3",
            "1e0e",
            "9001",
            &[(2, "ttyUSB7"), (4, "ttyUSB9")],
        )
        .unwrap();
        let ids = dir.path().join("modems");
        (dir, roots, ids)
    }

    fn record(usb: &str, imei: &str) -> IdentityRecord {
        IdentityRecord {
            imei: imei.into(),
            usb_path: usb.into(),
            port: "/dev/ttyUSB2".into(),
            pid: 1,
            api: None,
            at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn a_usb_path_resolves_to_its_at_port_and_follows_a_renumbering() {
        let (_d, roots, ids) = setup();
        let sel = ModemSelector::UsbPath("1-1.3".into());
        let (port, usb) = resolve(&sel, &roots, &ids).unwrap();
        assert_eq!(port, roots.dev.join("ttyUSB7"));
        assert_eq!(usb.as_deref(), Some("1-1.3"));
        // Re-enumerated: same socket, new numbers.
        fake::remove_interfaces(&roots, "1-1.3").unwrap();
        fake::add_modem(&roots, "1-1.3", "1e0e", "9001", &[(2, "ttyUSB12")]).unwrap();
        assert_eq!(
            resolve(&sel, &roots, &ids).unwrap().0,
            roots.dev.join("ttyUSB12")
        );
    }

    #[test]
    fn an_imei_resolves_through_the_record_a_bot_left() {
        let (_d, roots, ids) = setup();
        let sel = ModemSelector::Imei("351602000330571".into());
        let err = resolve(&sel, &roots, &ids).unwrap_err().to_string();
        assert!(
            err.contains("351602000330571") && err.contains("usb_path"),
            "{err}"
        );
        write_record(&ids, &record("1-1.2", "351602000330570")).unwrap();
        write_record(&ids, &record("1-1.3", "351602000330571")).unwrap();
        assert_eq!(
            resolve(&sel, &roots, &ids).unwrap().0,
            roots.dev.join("ttyUSB7")
        );
    }

    #[test]
    fn an_absent_usb_path_or_one_without_at_port_is_refused_by_name() {
        let (_d, roots, ids) = setup();
        let err = resolve(&ModemSelector::UsbPath("1-1.9".into()), &roots, &ids)
            .unwrap_err()
            .to_string();
        assert!(err.contains("1-1.9"), "{err}");
        fake::remove_interfaces(&roots, "1-1.2").unwrap();
        let err = resolve(&ModemSelector::UsbPath("1-1.2".into()), &roots, &ids)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no AT port") && err.contains("1-1.2"), "{err}");
    }

    #[test]
    fn a_wrong_imei_after_init_is_named() {
        let sel = ModemSelector::Imei("351602000330571".into());
        assert_eq!(imei_mismatch(&sel, Some("351602000330571")), None);
        let p = imei_mismatch(&sel, Some("351602000330570")).unwrap();
        assert!(
            p.contains("351602000330570") && p.contains("351602000330571"),
            "{p}"
        );
        assert!(imei_mismatch(&sel, None).is_some());
        assert_eq!(
            imei_mismatch(&ModemSelector::UsbPath("1-1".into()), None),
            None
        );
    }

    #[test]
    fn imeis_are_checked() {
        assert!(validate_imei("351602000330570").is_ok());
        for bad in ["", "35160200033057x", "1234"] {
            assert!(validate_imei(bad).is_err(), "{bad}");
        }
    }
}
