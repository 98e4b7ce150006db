//! The `[fleet]` table: where the kernel's tree is read, where identity records live, and
//! how far the supervisor goes to bring a modem back.
//!
//! ```toml
//! [fleet]
//! sysfs_root = "/sys"
//! dev_root = "/dev"
//! identity_dir = "/var/lib/sim7600/modems"
//! modem_reset = "cfun"        # or "none"
//! usb_reset = true
//! reenumerate_timeout_s = 60
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::sysfs::SysfsRoots;

/// Where identity records live unless configured.
pub const DEFAULT_IDENTITY_DIR: &str = "/var/lib/sim7600/modems";
/// How long a USB reset may take to bring the modem's ports back, unless configured.
pub const DEFAULT_REENUMERATE_TIMEOUT_S: u64 = 60;
/// The longest accepted wait for re-enumeration.
pub const MAX_REENUMERATE_TIMEOUT_S: u64 = 600;

/// The reset the supervisor asks the modem for when re-opening did not help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ModemReset {
    /// `AT+CFUN=1,1`: the modem restarts (and re-enumerates on USB).
    #[default]
    Cfun,
    /// No reset command: straight to the USB reset.
    None,
}

fn default_sysfs_root() -> PathBuf {
    PathBuf::from("/sys")
}
fn default_dev_root() -> PathBuf {
    PathBuf::from("/dev")
}
fn default_identity_dir() -> PathBuf {
    PathBuf::from(DEFAULT_IDENTITY_DIR)
}
fn default_true() -> bool {
    true
}
fn default_reenumerate() -> u64 {
    DEFAULT_REENUMERATE_TIMEOUT_S
}

/// The `[fleet]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetSettings {
    /// sysfs (`/sys`).
    #[serde(default = "default_sysfs_root")]
    pub sysfs_root: PathBuf,
    /// The device nodes (`/dev`).
    #[serde(default = "default_dev_root")]
    pub dev_root: PathBuf,
    /// Where a bot records which IMEI sits at which USB path.
    #[serde(default = "default_identity_dir")]
    pub identity_dir: PathBuf,
    /// The reset command the supervisor sends.
    #[serde(default)]
    pub modem_reset: ModemReset,
    /// Whether the supervisor may reset the modem's USB device (`authorized` 0 then 1).
    #[serde(default = "default_true")]
    pub usb_reset: bool,
    /// How long the modem's ports may take to come back after a reset, in seconds.
    #[serde(default = "default_reenumerate")]
    pub reenumerate_timeout_s: u64,
}

impl Default for FleetSettings {
    fn default() -> Self {
        FleetSettings {
            sysfs_root: default_sysfs_root(),
            dev_root: default_dev_root(),
            identity_dir: default_identity_dir(),
            modem_reset: ModemReset::default(),
            usb_reset: true,
            reenumerate_timeout_s: DEFAULT_REENUMERATE_TIMEOUT_S,
        }
    }
}

/// A `[fleet]` value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct FleetSettingsError {
    /// The key within `[fleet]`.
    pub key: &'static str,
    /// What is wrong.
    pub problem: String,
}

impl FleetSettings {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), FleetSettingsError> {
        for (key, path) in [
            ("sysfs_root", &self.sysfs_root),
            ("dev_root", &self.dev_root),
            ("identity_dir", &self.identity_dir),
        ] {
            if path.as_os_str().is_empty() {
                return Err(FleetSettingsError {
                    key,
                    problem: "must not be empty".into(),
                });
            }
        }
        if self.reenumerate_timeout_s == 0 || self.reenumerate_timeout_s > MAX_REENUMERATE_TIMEOUT_S
        {
            return Err(FleetSettingsError {
                key: "reenumerate_timeout_s",
                problem: format!(
                    "{} is out of range: allowed 1..={MAX_REENUMERATE_TIMEOUT_S}",
                    self.reenumerate_timeout_s
                ),
            });
        }
        Ok(())
    }

    /// The roots to read.
    pub fn roots(&self) -> SysfsRoots {
        SysfsRoots {
            sysfs: self.sysfs_root.clone(),
            dev: self.dev_root.clone(),
        }
    }

    /// The wait for re-enumeration.
    pub fn reenumerate_timeout(&self) -> Duration {
        Duration::from_secs(self.reenumerate_timeout_s)
    }
}
