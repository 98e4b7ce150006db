//! Files that hold what people said and who they are (SMS texts and numbers in the queue,
//! callers in the call log): readable by the bot's user only.
//!
//! This module owns the modes of those files: folders the bot creates for them are
//! `0700`, the files `0600`, whatever the umask; and [`make_private`] takes group and
//! other permissions away from ones an older version (or a hand) left readable, at start.

use std::fs::{DirBuilder, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The mode of a file holding messages or callers.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// The mode of a folder the bot creates for them.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Creates `dir` and its missing parents with [`PRIVATE_DIR_MODE`] (folders that exist
/// keep theirs).
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(dir)
}

/// Takes group and other permissions away from `path` (a file or a folder, never
/// through a symbolic link). Returns whether it had any.
pub fn make_private(path: &Path) -> io::Result<bool> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if meta.file_type().is_symlink() {
        return Ok(false);
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        return Ok(false);
    }
    std::fs::set_permissions(path, Permissions::from_mode(mode & !0o077))?;
    Ok(true)
}

/// [`make_private`] on `dir` and every entry in it (not below): the paths it changed.
pub fn make_folder_private(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut fixed = Vec::new();
    if make_private(dir)? {
        fixed.push(dir.to_path_buf());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if make_private(&path)? {
            fixed.push(path);
        }
    }
    Ok(fixed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn readable_files_and_folders_are_made_private_and_links_left_alone() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("q");
        create_private_dir_all(&dir.join("active")).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("active")), 0o700);
        let file = dir.join("active/1.json");
        std::fs::write(&file, "{}").unwrap();
        std::fs::set_permissions(&file, Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(dir.join("active"), Permissions::from_mode(0o755)).unwrap();
        let outside = t.path().join("outside");
        std::fs::write(&outside, "x").unwrap();
        std::fs::set_permissions(&outside, Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("active/link")).unwrap();
        let fixed = make_folder_private(&dir.join("active")).unwrap();
        assert_eq!(fixed, vec![dir.join("active"), file.clone()]);
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&dir.join("active")), 0o700);
        assert_eq!(mode(&outside), 0o644, "not changed through a link");
        assert!(make_folder_private(&dir.join("active")).unwrap().is_empty());
    }
}
