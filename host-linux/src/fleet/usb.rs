//! The USB reset through sysfs: the modem's device is de-authorized (`authorized` = 0:
//! the kernel unbinds its drivers, its ttys vanish) and authorized again (= 1: it is
//! enumerated anew, its ttys come back, possibly with new numbers). The same as unplugging
//! and replugging it, without touching it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::sysfs::SysfsRoots;

/// How long the device stays de-authorized.
pub const DEAUTHORIZED_FOR: Duration = Duration::from_millis(500);

/// Why the reset could not be done.
#[derive(Debug, thiserror::Error)]
pub enum UsbResetError {
    /// The attribute could not be written (not root, /sys read-only, no such device).
    #[error("cannot write {value} to {}: {source}", file.display())]
    Write {
        /// The `authorized` file.
        file: PathBuf,
        /// What was to be written.
        value: &'static str,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// The `authorized` attribute of the device at `usb_path`.
pub fn authorized_file(roots: &SysfsRoots, usb_path: &str) -> PathBuf {
    roots.device_dir(usb_path).join("authorized")
}

/// Resets the device at `usb_path`: `0`, a pause of `pause`, `1`, each through `write`.
pub fn reset_with(
    file: &Path,
    pause: Duration,
    mut write: impl FnMut(&Path, &'static str) -> std::io::Result<()>,
) -> Result<(), UsbResetError> {
    for (value, wait) in [("0", pause), ("1", Duration::ZERO)] {
        write(file, value).map_err(|source| UsbResetError::Write {
            file: file.to_path_buf(),
            value,
            source,
        })?;
        std::thread::sleep(wait);
    }
    Ok(())
}

/// Resets the device at `usb_path` under `roots`.
pub fn reset(roots: &SysfsRoots, usb_path: &str) -> Result<(), UsbResetError> {
    let file = authorized_file(roots, usb_path);
    log::warn!("USB reset of {usb_path}: {} 0 then 1", file.display());
    reset_with(&file, DEAUTHORIZED_FOR, |f, v| std::fs::write(f, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reset_writes_zero_then_one_to_the_devices_authorized_file() {
        let dir = tempfile::tempdir().unwrap();
        let roots = super::super::sysfs::fake::roots_under(dir.path());
        super::super::sysfs::fake::add_modem(&roots, "1-1.2", "1e0e", "9001", &[]).unwrap();
        let file = authorized_file(&roots, "1-1.2");
        let mut seen = Vec::new();
        reset_with(&file, Duration::ZERO, |f, v| {
            seen.push((f.to_path_buf(), v));
            std::fs::write(f, v)
        })
        .unwrap();
        assert_eq!(seen, [(file.clone(), "0"), (file.clone(), "1")]);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "1");
    }

    #[test]
    fn a_device_that_is_not_there_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let roots = super::super::sysfs::fake::roots_under(dir.path());
        let err = reset(&roots, "1-1.9").unwrap_err().to_string();
        assert!(
            err.contains("1-1.9/authorized") && err.contains("write 0"),
            "{err}"
        );
    }
}
