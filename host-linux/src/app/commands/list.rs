//! `sim7600 list`: every SIMCom modem on the host, read from sysfs: its USB path, vendor
//! and product, its AT and audio ports by interface number and who holds them, and its
//! IMEI when it can be had without disturbing anyone.
//!
//! The IMEI comes from, in this order: the identity record of a bot that holds the AT port
//! now (a bot never has its port opened by a second process); the modem itself when its
//! AT port is free (`AT+CGSN`, and the answer is recorded for bots that name their modem
//! by IMEI); the record a bot left earlier at that USB path (said as such). A port held by
//! smstools is never opened: its IMEI is then unknown unless a record has it.

use std::path::Path;

use serde::Serialize;

use crate::app::config::Config;
use crate::fleet::identity::{self, IdentityRecord};
use crate::fleet::sysfs::{self, SysfsRoots, UsbModem};
use crate::platform::holders::{self, Holder};
use crate::platform::link;

/// Where the IMEI shown was learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImeiSource {
    /// The identity record of the bot that holds the AT port now.
    RunningBot,
    /// Asked of the modem just now (its AT port was free).
    Modem,
    /// A record left earlier at this USB path (the modem may have been swapped since).
    EarlierRecord,
}

/// One port of a listed modem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedPort {
    /// `at`, `audio` or `other`.
    pub role: &'static str,
    /// The USB interface number.
    pub interface: u8,
    /// The node.
    pub node: String,
    /// Who has it open.
    pub holders: Vec<Holder>,
}

/// One listed modem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedModem {
    /// The USB path.
    pub usb_path: String,
    /// `idVendor`.
    pub vendor: String,
    /// `idProduct`.
    pub product: String,
    /// The IMEI, when it could be had.
    pub imei: Option<String>,
    /// Where it came from.
    pub imei_source: Option<ImeiSource>,
    /// Why there is none, when there is none.
    pub imei_unknown_because: Option<String>,
    /// Its serial ports.
    pub ports: Vec<ListedPort>,
}

/// Asks a free AT port for the IMEI (`AT+CGSN` through modem-core).
pub fn ask_imei(port: &Path) -> Result<String, String> {
    let tty = link::open_exclusive(port).map_err(|e| e.to_string())?;
    link::with_link_cooldown(&tty, port, link::PROBE_CMD_COOLDOWN, |l| {
        futures::executor::block_on(l.modem.imei())
            .map(|r| r.digits.to_string())
            .map_err(|e| format!("{} did not tell its IMEI: {e}", port.display()))
    })
    .map_err(|e| e.to_string())?
}

fn role(modem: &UsbModem, interface: u8) -> &'static str {
    if interface == modem.at_interface() {
        "at"
    } else if modem.audio_port().is_some_and(|p| p.interface == interface) {
        "audio"
    } else {
        "other"
    }
}

/// Lists the modems under `roots`, learning IMEIs as the module says; records go to
/// `identity_dir`.
pub fn gather(
    roots: &SysfsRoots,
    identity_dir: &Path,
) -> Result<Vec<ListedModem>, sysfs::SysfsError> {
    let modems = sysfs::scan(roots)?;
    Ok(modems.iter().map(|m| listed(m, identity_dir)).collect())
}

fn listed(modem: &UsbModem, identity_dir: &Path) -> ListedModem {
    let ports: Vec<ListedPort> = modem
        .ports
        .iter()
        .map(|p| ListedPort {
            role: role(modem, p.interface),
            interface: p.interface,
            node: p.node.display().to_string(),
            holders: holders::holders_of(&p.node).unwrap_or_default(),
        })
        .collect();
    let record = identity::read_record(identity_dir, &modem.usb_path);
    let at = ports.iter().find(|p| p.role == "at");
    let mut out = ListedModem {
        usb_path: modem.usb_path.clone(),
        vendor: modem.vendor.clone(),
        product: modem.product.clone(),
        imei: None,
        imei_source: None,
        imei_unknown_because: None,
        ports: ports.clone(),
    };
    let Some(at) = at else {
        out.imei_unknown_because = Some("the kernel shows no AT port".into());
        return out;
    };
    let held_by_recorded_bot = record.as_ref().is_some_and(|r| {
        at.holders
            .iter()
            .any(|h| u32::try_from(h.pid).is_ok_and(|pid| pid == r.pid))
    });
    if let (true, Some(r)) = (held_by_recorded_bot, &record) {
        out.imei = Some(r.imei.clone());
        out.imei_source = Some(ImeiSource::RunningBot);
        return out;
    }
    if at.holders.is_empty() {
        match ask_imei(Path::new(&at.node)) {
            Ok(imei) => {
                let rec = IdentityRecord {
                    imei: imei.clone(),
                    usb_path: modem.usb_path.clone(),
                    port: at.node.clone().into(),
                    pid: std::process::id(),
                    api: None,
                    at: crate::bot::state::now_rfc3339(),
                };
                if let Err(e) = identity::write_record(identity_dir, &rec) {
                    log::warn!("{e}");
                }
                out.imei = Some(imei);
                out.imei_source = Some(ImeiSource::Modem);
                return out;
            }
            Err(e) => out.imei_unknown_because = Some(e),
        }
    } else {
        let who: Vec<String> = at.holders.iter().map(ToString::to_string).collect();
        out.imei_unknown_because = Some(format!(
            "the AT port is held by {} and is not opened by a second process",
            who.join(", ")
        ));
    }
    if let Some(r) = record {
        out.imei = Some(r.imei);
        out.imei_source = Some(ImeiSource::EarlierRecord);
    }
    out
}

/// `sim7600 list` for `config`.
pub fn run(config: &Config) -> Result<Vec<ListedModem>, sysfs::SysfsError> {
    gather(&config.fleet.roots(), &config.fleet.identity_dir)
}

/// The list for a person.
pub fn render(modems: &[ListedModem]) -> String {
    if modems.is_empty() {
        return "no SIMCom modem on this host\n".into();
    }
    let mut out = String::new();
    for m in modems {
        let imei = match (&m.imei, m.imei_source) {
            (Some(i), Some(ImeiSource::RunningBot)) => {
                format!("IMEI {i} (from the bot that runs it)")
            }
            (Some(i), Some(ImeiSource::Modem)) => format!("IMEI {i}"),
            (Some(i), _) => format!("IMEI {i} (recorded earlier at this USB path)"),
            (None, _) => format!(
                "IMEI unknown ({})",
                m.imei_unknown_because.as_deref().unwrap_or("not asked")
            ),
        };
        out.push_str(&format!(
            "{}  {}:{}  {imei}\n",
            m.usb_path, m.vendor, m.product
        ));
        for p in &m.ports {
            let held = if p.holders.is_empty() {
                "free".to_owned()
            } else {
                let who: Vec<String> = p.holders.iter().map(ToString::to_string).collect();
                format!("held by {}", who.join(", "))
            };
            out.push_str(&format!(
                "  {:<5} interface {:02}  {}  {held}\n",
                p.role, p.interface, p.node
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::sysfs::fake;

    #[test]
    fn a_modem_whose_port_is_held_by_its_recorded_bot_shows_the_bots_imei() {
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
        std::fs::create_dir_all(&roots.dev).unwrap();
        // This test process is the "bot": it holds the AT node open.
        let node = roots.dev.join("ttyUSB2");
        std::fs::write(&node, "").unwrap();
        let _held = std::fs::File::open(&node).unwrap();
        std::fs::write(roots.dev.join("ttyUSB4"), "").unwrap();
        let ids = dir.path().join("modems");
        identity::write_record(
            &ids,
            &IdentityRecord {
                imei: "351602000330570".into(),
                usb_path: "1-1.2".into(),
                port: node.clone(),
                pid: std::process::id(),
                api: None,
                at: "2026-01-01T00:00:00Z".into(),
            },
        )
        .unwrap();
        let list = gather(&roots, &ids).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].imei.as_deref(), Some("351602000330570"));
        assert_eq!(list[0].imei_source, Some(ImeiSource::RunningBot));
        assert_eq!(list[0].ports[0].role, "at");
        assert_eq!(list[0].ports[0].holders.len(), 1);
        assert_eq!(list[0].ports[1].role, "audio");
        assert!(list[0].ports[1].holders.is_empty());
        let text = render(&list);
        assert!(
            text.contains("1-1.2  1e0e:9001  IMEI 351602000330570"),
            "{text}"
        );
    }

    #[test]
    fn no_modem_is_said_plainly() {
        assert_eq!(render(&[]), "no SIMCom modem on this host\n");
    }
}
