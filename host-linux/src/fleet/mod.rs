//! Many modems on one host, and modems that hang: which modem is which ([`identity`],
//! [`sysfs`]), how a modem that stops answering is brought back ([`supervisor`]), and the
//! `[fleet]` table of the config ([`FleetSettings`]).

pub mod identity;
pub mod settings;
pub mod smsd_watch;
pub mod supervisor;
pub mod sysfs;
pub mod usb;

pub use identity::{IdentityRecord, ModemSelector};
pub use settings::{FleetSettings, FleetSettingsError};
pub use sysfs::{SysfsRoots, UsbModem};

use std::path::{Path, PathBuf};

/// How a bot finds its modem: the selector of the config, where it found it at start, and
/// the `[fleet]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModemPlan {
    /// How the config names the modem.
    pub selector: ModemSelector,
    /// The USB path found at start (`None`: the port is not a USB device sysfs shows).
    pub usb_path: Option<String>,
    /// The `[fleet]` table.
    pub settings: FleetSettings,
    /// The bot's HTTP API address, recorded for `sim7600 list`.
    pub api: Option<String>,
}

impl ModemPlan {
    /// A plan for a modem named by its port, with the default `[fleet]` table.
    pub fn for_port(port: &Path) -> Self {
        ModemPlan {
            selector: ModemSelector::Port(port.to_path_buf()),
            usb_path: None,
            settings: FleetSettings::default(),
            api: None,
        }
    }

    /// Resolves the selector now: the AT port, and the plan with the USB path learned.
    pub fn resolve(
        selector: ModemSelector,
        settings: FleetSettings,
    ) -> Result<(PathBuf, ModemPlan), identity::IdentityError> {
        let (port, usb_path) =
            identity::resolve(&selector, &settings.roots(), &settings.identity_dir)?;
        Ok((
            port,
            ModemPlan {
                selector,
                usb_path,
                settings,
                api: None,
            },
        ))
    }

    /// The AT port to open now: the configured port, or the modem's AT port as sysfs
    /// shows it now at its USB path (after a re-enumeration it may have a new node);
    /// `fallback` while sysfs does not show it.
    pub fn port_now(&self, fallback: &Path) -> PathBuf {
        if matches!(self.selector, ModemSelector::Port(_)) {
            return fallback.to_path_buf();
        }
        self.usb_path
            .as_deref()
            .and_then(|u| sysfs::modem_at(&self.settings.roots(), u))
            .and_then(|m| m.at_port().map(|p| p.node.clone()))
            .unwrap_or_else(|| fallback.to_path_buf())
    }

    /// Records that the modem on `port` has `imei` (when the USB path is known); a
    /// failure is logged, never fatal.
    pub fn record(&self, imei: &str, port: &Path, at: String) {
        let Some(usb_path) = &self.usb_path else {
            return;
        };
        let record = IdentityRecord {
            imei: imei.to_owned(),
            usb_path: usb_path.clone(),
            port: port.to_path_buf(),
            pid: std::process::id(),
            api: self.api.clone(),
            at,
        };
        if let Err(e) = identity::write_record(&self.settings.identity_dir, &record) {
            log::warn!("{e}");
        }
    }
}
