//! The SIMCom modems the kernel shows under sysfs: one [`UsbModem`] per USB device whose
//! vendor is SIMCom (`idVendor` 1e0e), with its USB path (`1-1.2`, stable across
//! re-enumeration, unlike ttyUSB numbers), its product id, and its serial ports by USB
//! interface number.
//!
//! The root of the tree (`/sys`) and of the device nodes (`/dev`) are parameters, so that
//! tests (and the rig) read a tree they made. The layout read is the kernel's:
//! `<sysfs>/bus/usb/devices/<usb_path>/{idVendor,idProduct,authorized}` and, per
//! interface, `<sysfs>/bus/usb/devices/<usb_path>:<config>.<n>/bInterfaceNumber` with the
//! tty as a child directory (`ttyUSB2/` for the option driver, `tty/ttyACM0/` for cdc-acm).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// SIMCom's USB vendor id, as sysfs spells it.
pub const SIMCOM_VENDOR: &str = "1e0e";
/// The AT port's interface in the usual 1e0e:9001 layout (SIM7600-PROTOCOL.md).
pub const AT_INTERFACE: u8 = 2;
/// The audio (PCM) port's interface in the 1e0e:9001 layout.
pub const AUDIO_INTERFACE: u8 = 4;
/// The product id whose AT port is interface 4 instead (RNDIS mode; unverified on
/// hardware, SIM7600-PROTOCOL.md).
pub const RNDIS_PRODUCT: &str = "9011";

/// Where the kernel's tree is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysfsRoots {
    /// sysfs (`/sys`).
    pub sysfs: PathBuf,
    /// The device nodes (`/dev`).
    pub dev: PathBuf,
}

impl Default for SysfsRoots {
    fn default() -> Self {
        SysfsRoots {
            sysfs: PathBuf::from("/sys"),
            dev: PathBuf::from("/dev"),
        }
    }
}

impl SysfsRoots {
    /// `<sysfs>/bus/usb/devices`.
    pub fn usb_devices(&self) -> PathBuf {
        self.sysfs.join("bus/usb/devices")
    }

    /// The device's directory.
    pub fn device_dir(&self, usb_path: &str) -> PathBuf {
        self.usb_devices().join(usb_path)
    }
}

/// One serial port of a modem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsbPort {
    /// Its USB interface number (`2` for the AT port of a 1e0e:9001).
    pub interface: u8,
    /// The kernel's name (`ttyUSB2`).
    pub tty: String,
    /// The node (`/dev/ttyUSB2`).
    pub node: PathBuf,
}

/// One SIMCom modem on the USB bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsbModem {
    /// The USB path (`1-1.2`): which socket it is plugged into.
    pub usb_path: String,
    /// `idVendor` (`1e0e`).
    pub vendor: String,
    /// `idProduct` (`9001`).
    pub product: String,
    /// Its serial ports, by interface number.
    pub ports: Vec<UsbPort>,
}

impl UsbModem {
    /// The interface of the AT port for this product.
    pub fn at_interface(&self) -> u8 {
        if self.product == RNDIS_PRODUCT {
            AUDIO_INTERFACE
        } else {
            AT_INTERFACE
        }
    }

    /// The port on interface `n`.
    pub fn port(&self, n: u8) -> Option<&UsbPort> {
        self.ports.iter().find(|p| p.interface == n)
    }

    /// The AT port, when the kernel shows it.
    pub fn at_port(&self) -> Option<&UsbPort> {
        self.port(self.at_interface())
    }

    /// The audio port (interface 4 of a 1e0e:9001; none in RNDIS mode, where 4 is AT).
    pub fn audio_port(&self) -> Option<&UsbPort> {
        if self.product == RNDIS_PRODUCT {
            return None;
        }
        self.port(AUDIO_INTERFACE)
    }
}

/// Why the tree could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SysfsError {
    /// The USB device list is not there (no sysfs, or a wrong `fleet.sysfs_root`).
    #[error("cannot list USB devices in {}: {source}", dir.display())]
    List {
        /// The directory.
        dir: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
}

fn read_attr(dir: &Path, name: &str) -> Option<String> {
    let text = fs::read_to_string(dir.join(name)).ok()?;
    Some(text.trim().to_owned())
}

/// Whether a directory name is a USB device (`1-1.2`, `2-3`), not an interface
/// (`1-1.2:1.0`) nor a root hub (`usb1`).
pub fn is_device_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains(':')
        && name.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// Whether `text` could be a USB path (what `usb_path` in the config may hold).
pub fn validate_usb_path(text: &str) -> Result<(), String> {
    if is_device_name(text) && text.contains('-') {
        Ok(())
    } else {
        Err(format!(
            "{text:?} is not a USB path like \"1-1.2\" (bus, dash, port numbers joined by dots; \
             `sim7600 list` shows them)"
        ))
    }
}

/// The tty child of an interface directory: `ttyUSB2/` (option, usb-serial) or
/// `tty/ttyACM0/` (cdc-acm).
fn tty_of(interface_dir: &Path) -> Option<String> {
    let is_tty = |n: &str| n.starts_with("tty") && n.len() > 3;
    let mut names: Vec<String> = fs::read_dir(interface_dir)
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_tty(n))
        .collect();
    if names.is_empty() {
        names = fs::read_dir(interface_dir.join("tty"))
            .ok()?
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| is_tty(n))
            .collect();
    }
    names.sort();
    names.into_iter().next()
}

/// The modem at `usb_path`, when it is a SIMCom device present now.
pub fn modem_at(roots: &SysfsRoots, usb_path: &str) -> Option<UsbModem> {
    let dir = roots.device_dir(usb_path);
    let vendor = read_attr(&dir, "idVendor")?;
    if !vendor.eq_ignore_ascii_case(SIMCOM_VENDOR) {
        return None;
    }
    let product = read_attr(&dir, "idProduct").unwrap_or_default();
    let prefix = format!("{usb_path}:");
    let mut ports = Vec::new();
    if let Ok(entries) = fs::read_dir(roots.usb_devices()) {
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if !name.starts_with(&prefix) {
                continue;
            }
            let idir = entry.path();
            let Some(interface) =
                read_attr(&idir, "bInterfaceNumber").and_then(|n| u8::from_str_radix(&n, 16).ok())
            else {
                continue;
            };
            if let Some(tty) = tty_of(&idir) {
                ports.push(UsbPort {
                    interface,
                    node: roots.dev.join(&tty),
                    tty,
                });
            }
        }
    }
    ports.sort_by_key(|p| p.interface);
    Some(UsbModem {
        usb_path: usb_path.to_owned(),
        vendor,
        product,
        ports,
    })
}

/// Every SIMCom modem under `roots`, sorted by USB path.
pub fn scan(roots: &SysfsRoots) -> Result<Vec<UsbModem>, SysfsError> {
    let dir = roots.usb_devices();
    let entries = fs::read_dir(&dir).map_err(|source| SysfsError::List {
        dir: dir.clone(),
        source,
    })?;
    let mut modems: Vec<UsbModem> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_device_name(n))
        .filter_map(|n| modem_at(roots, &n))
        .collect();
    modems.sort_by(|a, b| a.usb_path.cmp(&b.usb_path));
    Ok(modems)
}

/// The modem whose interface's tty is the node `port` resolves to (a udev symlink or
/// `/dev/ttyUSB2`), with the USB path.
pub fn modem_of_port<'a>(modems: &'a [UsbModem], port: &Path) -> Option<&'a UsbModem> {
    let target = fs::canonicalize(port).unwrap_or_else(|_| port.to_path_buf());
    modems.iter().find(|m| {
        m.ports
            .iter()
            .any(|p| p.node == target || fs::canonicalize(&p.node).is_ok_and(|n| n == target))
    })
}

/// A fake sysfs tree, as the kernel lays it out, for tests and the rig.
pub mod fake {
    use super::*;

    /// The roots of a fake tree under `dir`: `dir/sys` and `dir/dev`.
    pub fn roots_under(dir: &Path) -> SysfsRoots {
        SysfsRoots {
            sysfs: dir.join("sys"),
            dev: dir.join("dev"),
        }
    }

    /// Writes a modem at `usb_path` with `vendor:product` and `(interface, tty)` ports
    /// under `roots.sysfs`; the nodes under `roots.dev` are the caller's.
    pub fn add_modem(
        roots: &SysfsRoots,
        usb_path: &str,
        vendor: &str,
        product: &str,
        ports: &[(u8, &str)],
    ) -> io::Result<()> {
        let dev = roots.device_dir(usb_path);
        fs::create_dir_all(&dev)?;
        fs::write(dev.join("idVendor"), format!("{vendor}\n"))?;
        fs::write(dev.join("idProduct"), format!("{product}\n"))?;
        fs::write(dev.join("authorized"), "1\n")?;
        for (n, tty) in ports {
            let idir = roots.usb_devices().join(format!("{usb_path}:1.{n}"));
            fs::create_dir_all(idir.join(tty))?;
            fs::write(idir.join("bInterfaceNumber"), format!("{n:02x}\n"))?;
        }
        Ok(())
    }

    /// Removes the modem's interfaces (as an unplug or a reset does while it lasts).
    pub fn remove_interfaces(roots: &SysfsRoots, usb_path: &str) -> io::Result<()> {
        let prefix = format!("{usb_path}:");
        for entry in fs::read_dir(roots.usb_devices())?.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                fs::remove_dir_all(entry.path())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::fake::roots_under as roots;

    #[test]
    fn two_modems_and_a_hub_give_two_modems_with_ports_by_interface() {
        let dir = tempfile::tempdir().unwrap();
        let r = roots(dir.path());
        let five = [
            (0, "ttyUSB0"),
            (1, "ttyUSB1"),
            (2, "ttyUSB2"),
            (3, "ttyUSB3"),
            (4, "ttyUSB4"),
        ];
        fake::add_modem(&r, "1-1.2", "1e0e", "9001", &five).unwrap();
        let other = [(0, "ttyUSB5"), (2, "ttyUSB7"), (4, "ttyUSB9")];
        fake::add_modem(&r, "1-1.3", "1e0e", "9001", &other).unwrap();
        // Not SIMCom: a CP2102 adapter.
        fake::add_modem(&r, "1-1.4", "10c4", "ea60", &[(0, "ttyUSB10")]).unwrap();
        std::fs::create_dir_all(r.usb_devices().join("usb1")).unwrap();
        let modems = scan(&r).unwrap();
        assert_eq!(modems.len(), 2, "{modems:?}");
        assert_eq!(modems[0].usb_path, "1-1.2");
        assert_eq!(modems[0].at_port().unwrap().node, r.dev.join("ttyUSB2"));
        assert_eq!(modems[0].audio_port().unwrap().tty, "ttyUSB4");
        assert_eq!(modems[1].at_port().unwrap().tty, "ttyUSB7");
        assert_eq!(modems[1].audio_port().unwrap().tty, "ttyUSB9");
    }

    #[test]
    fn cdc_acm_ttys_one_level_down_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let r = roots(dir.path());
        fake::add_modem(&r, "2-1", "1e0e", "9001", &[]).unwrap();
        let idir = r.usb_devices().join("2-1:1.2");
        std::fs::create_dir_all(idir.join("tty/ttyACM0")).unwrap();
        std::fs::write(idir.join("bInterfaceNumber"), "02\n").unwrap();
        let m = modem_at(&r, "2-1").unwrap();
        assert_eq!(m.at_port().unwrap().tty, "ttyACM0");
    }

    #[test]
    fn rndis_mode_has_its_at_port_on_interface_four_and_no_audio_port() {
        let dir = tempfile::tempdir().unwrap();
        let r = roots(dir.path());
        fake::add_modem(&r, "1-2", "1e0e", "9011", &[(2, "ttyUSB2"), (4, "ttyUSB4")]).unwrap();
        let m = modem_at(&r, "1-2").unwrap();
        assert_eq!(m.at_port().unwrap().tty, "ttyUSB4");
        assert!(m.audio_port().is_none());
    }

    #[test]
    fn a_missing_sysfs_is_an_error_naming_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let err = scan(&roots(&dir.path().join("nowhere")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("nowhere/sys/bus/usb/devices"), "{err}");
    }

    #[test]
    fn usb_paths_are_checked() {
        assert!(validate_usb_path("1-1.2").is_ok());
        assert!(validate_usb_path("3-10.4.1").is_ok());
        for bad in ["", "usb1", "1-1.2:1.0", "../1-1", "12"] {
            assert!(validate_usb_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_modem_of_a_port_is_found_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let r = roots(dir.path());
        fake::add_modem(&r, "1-1.2", "1e0e", "9001", &[(2, "ttyUSB2")]).unwrap();
        std::fs::create_dir_all(&r.dev).unwrap();
        std::fs::write(r.dev.join("ttyUSB2"), "").unwrap();
        let link = dir.path().join("sim7600-at");
        std::os::unix::fs::symlink(r.dev.join("ttyUSB2"), &link).unwrap();
        let modems = scan(&r).unwrap();
        assert_eq!(modem_of_port(&modems, &link).unwrap().usb_path, "1-1.2");
        assert!(modem_of_port(&modems, &dir.path().join("ttyS0")).is_none());
    }
}
