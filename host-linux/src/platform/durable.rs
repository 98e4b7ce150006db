//! Durable file writes: after a crash or a power loss a file written here holds either
//! its new bytes, whole, or what it held before; never half of them.
//!
//! This module owns the one way the crate writes such a file ([`Dir::write_file`] and its
//! path-based forms [`replace_file`] and [`create_file`]), in this order:
//! 1. a temporary file in the target's folder, created with `O_CREAT | O_EXCL |
//!    O_NOFOLLOW` (never through a planted link, never over another file), its mode set
//!    exactly to the caller's ([`NewFile`]: `0600` for private files, whatever the umask)
//!    and, when asked, its owner;
//! 2. the bytes written, the file fsynced;
//! 3. the temporary file renamed to the target, over an existing one ([`Replace::Yes`]),
//!    or put in place only if no file has that name ([`Replace::No`]:
//!    `renameat2(RENAME_NOREPLACE)`, a hard link where the file system lacks it);
//! 4. the folder fsynced, so that the new name survives a power loss too.
//!
//! The folder is opened once ([`Dir`]); every step after that is relative to its
//! descriptor (`openat`, `renameat2`, `linkat`, `unlinkat`), never a path that could be
//! re-resolved. A write that fails removes its temporary file. One a crash left behind is
//! hidden and ends in [`TEMP_SUFFIX`] ([`is_temporary`]); the folder's owner removes such
//! files when it starts ([`Dir::remove_leftovers`]). Every failure is a [`DurableError`]
//! naming the file and the [`Step`] that failed.
//!
//! The spool's folders, which others may write into, build on the same [`Dir`] (see
//! `spool::safe_fs`), with their own temporary names and checks on what they read.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, RenameFlags, openat, renameat2};
use nix::sys::stat::Mode;
use nix::unistd::{UnlinkatFlags, linkat, unlinkat};

/// The end of every temporary name [`Dir::write_file`] makes (which also starts with a
/// dot, so that listings of records skip it).
pub const TEMP_SUFFIX: &str = ".tmp";
/// How many temporary names [`Dir::write_file`] tries before it gives up (a name is taken
/// only by a leftover of a crashed process that had the same process id).
const TEMP_ATTEMPTS: u64 = 8;

/// One step of a durable write (or of the folder operations around it): what failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Opening the folder.
    OpenFolder,
    /// Creating the file (`O_EXCL`: a name that exists, even a link, is an error).
    Create,
    /// Setting its mode.
    SetMode,
    /// Setting its owner.
    SetOwner,
    /// Writing its bytes.
    Write,
    /// fsyncing it.
    SyncFile,
    /// Renaming it into place.
    Rename,
    /// Hard-linking it into place (where the file system cannot rename without replacing).
    Link,
    /// Removing a name.
    Remove,
    /// fsyncing the folder.
    SyncFolder,
    /// Listing the folder.
    List,
}

impl Step {
    /// What was being done, as the start of a sentence ("cannot fsync").
    pub fn action(self) -> &'static str {
        match self {
            Step::OpenFolder => "cannot open the folder",
            Step::Create => "cannot create",
            Step::SetMode => "cannot set the mode of",
            Step::SetOwner => "cannot set the owner of",
            Step::Write => "cannot write",
            Step::SyncFile => "cannot fsync",
            Step::Rename => "cannot rename into",
            Step::Link => "cannot link into",
            Step::Remove => "cannot remove",
            Step::SyncFolder => "cannot fsync the folder",
            Step::List => "cannot list",
        }
    }
}

/// Why a durable write (or a folder operation) failed: the step, the file (for a rename,
/// the target; for the folder's own steps, the folder) and what the OS said.
#[derive(Debug, thiserror::Error)]
#[error("{} {}: {source}", step.action(), path.display())]
pub struct DurableError {
    /// The step that failed.
    pub step: Step,
    /// The file or folder.
    pub path: PathBuf,
    /// What the OS said.
    pub source: std::io::Error,
}

impl DurableError {
    fn new(step: Step, path: PathBuf) -> impl FnOnce(std::io::Error) -> DurableError {
        move |source| DurableError { step, path, source }
    }

    fn nix(step: Step, path: PathBuf) -> impl FnOnce(Errno) -> DurableError {
        move |e| DurableError {
            step,
            path,
            source: std::io::Error::from(e),
        }
    }

    /// Whether it failed because the name exists ([`Step::Create`], or putting a file in
    /// place with [`Replace::No`]).
    pub fn is_already_exists(&self) -> bool {
        self.source.kind() == std::io::ErrorKind::AlreadyExists
    }

    /// The OS's error number, if it gave one.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

/// The mode and owner of a file the crate creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewFile {
    /// The permission bits, set exactly (the umask takes nothing away).
    pub mode: u32,
    /// The owner and group to give it (`None`: the process's own).
    pub owner: Option<(u32, u32)>,
}

impl NewFile {
    /// A file of `mode`, the process's own.
    pub const fn mode(mode: u32) -> NewFile {
        NewFile { mode, owner: None }
    }

    /// The same, given to `uid`:`gid`.
    pub const fn owned_by(self, uid: u32, gid: u32) -> NewFile {
        NewFile {
            mode: self.mode,
            owner: Some((uid, gid)),
        }
    }
}

/// Whether putting a file in place may replace one of that name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// The new file takes the name (an atomic rename over the old one).
    Yes,
    /// The name must be free: if a file has it, nothing changes and the write fails with
    /// [`DurableError::is_already_exists`].
    No,
}

/// Whether `name` is a temporary name of [`Dir::write_file`]: hidden, ending in
/// [`TEMP_SUFFIX`].
pub fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(TEMP_SUFFIX) && name.len() > TEMP_SUFFIX.len()
}

/// A temporary name for `name`, unique within this process and (by its process id)
/// among the processes alive.
fn temporary_name(name: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(".{name}.{}-{n}{TEMP_SUFFIX}", std::process::id())
}

/// A folder, opened once: every operation on its files is relative to its descriptor.
#[derive(Debug)]
pub struct Dir {
    path: PathBuf,
    fd: OwnedFd,
}

impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Dir {
    /// Opens the folder at `path` (the path itself may be a link the administrator made;
    /// nothing under it is followed).
    pub fn open(path: &Path) -> Result<Dir, DurableError> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(DurableError::nix(Step::OpenFolder, path.to_path_buf()))?;
        Ok(Dir {
            path: path.to_path_buf(),
            fd,
        })
    }

    /// The folder of `path` (`.` for a bare name), opened, and the file's name in it.
    pub fn open_parent_of(path: &Path) -> Result<(Dir, String), DurableError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| DurableError {
                step: Step::OpenFolder,
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "the path names no file",
                ),
            })?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        Ok((Dir::open(dir)?, name))
    }

    /// Its path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of `name` in it (for messages; never opened by path).
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Creates `name`, which must not exist (a link or anything else there:
    /// [`DurableError::is_already_exists`]), with `new`'s mode and owner, open for writing.
    pub fn create(&self, name: &str, new: NewFile) -> Result<File, DurableError> {
        self.create_traced(name, new, &mut |_| {})
    }

    fn create_traced(
        &self,
        name: &str,
        new: NewFile,
        trace: &mut dyn FnMut(Step),
    ) -> Result<File, DurableError> {
        let path = || self.join(name);
        let flags = OFlag::O_WRONLY
            | OFlag::O_CREAT
            | OFlag::O_EXCL
            | OFlag::O_NOFOLLOW
            | OFlag::O_CLOEXEC
            | OFlag::O_NOCTTY;
        let mode = Mode::from_bits_truncate(new.mode);
        trace(Step::Create);
        let file = File::from(
            openat(&self.fd, name, flags, mode).map_err(DurableError::nix(Step::Create, path()))?,
        );
        // The umask took bits away from the mode asked for: set it exactly (before the
        // file is given away, while it is still the process's own).
        trace(Step::SetMode);
        let mut set_up =
            nix::sys::stat::fchmod(&file, mode).map_err(DurableError::nix(Step::SetMode, path()));
        if let (Ok(()), Some((uid, gid))) = (&set_up, new.owner) {
            trace(Step::SetOwner);
            set_up = std::os::unix::fs::fchown(&file, Some(uid), Some(gid))
                .map_err(DurableError::new(Step::SetOwner, path()));
        }
        if let Err(e) = set_up {
            drop(file);
            self.discard(name);
            return Err(e);
        }
        Ok(file)
    }

    /// [`Self::create`], then writes `bytes` and fsyncs the file. A file that cannot be
    /// written whole is removed again. The folder is not fsynced (see [`Self::sync`]).
    pub fn create_with(&self, name: &str, bytes: &[u8], new: NewFile) -> Result<(), DurableError> {
        self.create_with_traced(name, bytes, new, &mut |_| {})
            .map(drop)
    }

    fn create_with_traced(
        &self,
        name: &str,
        bytes: &[u8],
        new: NewFile,
        trace: &mut dyn FnMut(Step),
    ) -> Result<File, DurableError> {
        let mut file = self.create_traced(name, new, trace)?;
        trace(Step::Write);
        let written = file
            .write_all(bytes)
            .map_err(DurableError::new(Step::Write, self.join(name)))
            .and_then(|()| {
                trace(Step::SyncFile);
                file.sync_all()
                    .map_err(DurableError::new(Step::SyncFile, self.join(name)))
            });
        if let Err(e) = written {
            // A full disk: the half-written file goes, so a refused write leaves nothing.
            drop(file);
            self.discard(name);
            return Err(e);
        }
        Ok(file)
    }

    /// Writes `bytes` durably as `name` (see the module docs): a temporary file of
    /// `new`'s mode and owner, fsynced, put in place as `replace` allows, the folder
    /// fsynced.
    pub fn write_file(
        &self,
        name: &str,
        bytes: &[u8],
        new: NewFile,
        replace: Replace,
    ) -> Result<(), DurableError> {
        let mut attempt = 0;
        loop {
            let temp = temporary_name(name);
            match self.write_file_via(&temp, name, bytes, new, replace) {
                Err(e) if e.step == Step::Create && e.is_already_exists() => {
                    attempt += 1;
                    if attempt >= TEMP_ATTEMPTS {
                        return Err(e);
                    }
                }
                other => return other.map(drop),
            }
        }
    }

    /// [`Self::write_file`] through the temporary name `temp`, which the caller chose and
    /// which must not exist; the file stays open and is returned (its offset at the end).
    pub fn write_file_via(
        &self,
        temp: &str,
        name: &str,
        bytes: &[u8],
        new: NewFile,
        replace: Replace,
    ) -> Result<File, DurableError> {
        self.write_file_traced(temp, name, bytes, new, replace, &mut |_| {})
    }

    fn write_file_traced(
        &self,
        temp: &str,
        name: &str,
        bytes: &[u8],
        new: NewFile,
        replace: Replace,
        trace: &mut dyn FnMut(Step),
    ) -> Result<File, DurableError> {
        let file = self.create_with_traced(temp, bytes, new, trace)?;
        if let Err(e) = self.put_traced(temp, self, name, replace, trace) {
            self.discard(temp);
            return Err(e);
        }
        trace(Step::SyncFolder);
        self.sync()?;
        Ok(file)
    }

    /// Renames `from` here to `to` in `dest` as `replace` allows. With [`Replace::No`] a
    /// file under `to` is left alone and the error says [`DurableError::is_already_exists`];
    /// `from` then stays. The folders are not fsynced.
    pub fn rename(
        &self,
        from: &str,
        dest: &Dir,
        to: &str,
        replace: Replace,
    ) -> Result<(), DurableError> {
        self.put_traced(from, dest, to, replace, &mut |_| {})
    }

    fn put_traced(
        &self,
        from: &str,
        dest: &Dir,
        to: &str,
        replace: Replace,
        trace: &mut dyn FnMut(Step),
    ) -> Result<(), DurableError> {
        let flags = match replace {
            Replace::Yes => RenameFlags::empty(),
            Replace::No => RenameFlags::RENAME_NOREPLACE,
        };
        trace(Step::Rename);
        match renameat2(&self.fd, from, &dest.fd, to, flags) {
            // A file system without RENAME_NOREPLACE: a hard link, which never replaces.
            Err(Errno::EINVAL | Errno::ENOSYS) if replace == Replace::No => {
                trace(Step::Link);
                self.link_then_unlink(from, dest, to)
            }
            other => other.map_err(DurableError::nix(Step::Rename, dest.join(to))),
        }
    }

    /// Puts `from` in place as `to` in `dest` with a hard link, which fails if `to`
    /// exists, then removes `from`.
    fn link_then_unlink(&self, from: &str, dest: &Dir, to: &str) -> Result<(), DurableError> {
        linkat(&self.fd, from, &dest.fd, to, AtFlags::empty())
            .map_err(DurableError::nix(Step::Link, dest.join(to)))?;
        // The file is in place: the write succeeded. A second name left behind is a
        // leftover like a crash's (hidden, removed by the folder's owner), only logged.
        self.discard(from);
        Ok(())
    }

    /// Removes `name` (a link itself, never what it points to); nothing there is fine.
    pub fn remove(&self, name: &str) -> Result<(), DurableError> {
        match unlinkat(&self.fd, name, UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(DurableError::nix(Step::Remove, self.join(name))(e)),
        }
    }

    /// Removes `name` after a failed write; the write's own error is what the caller
    /// hears, so a failure here is only logged.
    fn discard(&self, name: &str) {
        if let Err(e) = self.remove(name) {
            log::error!("{e}");
        }
    }

    /// fsyncs the folder: created, renamed and removed names survive a power loss.
    pub fn sync(&self) -> Result<(), DurableError> {
        nix::unistd::fsync(self.fd.as_fd())
            .map_err(DurableError::nix(Step::SyncFolder, self.path.clone()))
    }

    /// The names in the folder, at most `max` (names only: nothing is opened).
    pub fn names(&self, max: usize) -> Result<Vec<String>, DurableError> {
        let list_error = || DurableError::new(Step::List, self.path.clone());
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.path)
            .map_err(list_error())?
            .take(max)
        {
            out.push(
                entry
                    .map_err(list_error())?
                    .file_name()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
        Ok(out)
    }

    /// Removes every name `leftover` accepts (for example [`is_temporary`]) and fsyncs
    /// the folder when one went: for the folder's owner, when no write of its own is
    /// under way. Returns the names removed.
    pub fn remove_leftovers(
        &self,
        leftover: impl Fn(&str) -> bool,
    ) -> Result<Vec<String>, DurableError> {
        let mut removed = Vec::new();
        for name in self.names(usize::MAX)? {
            if leftover(&name) {
                self.remove(&name)?;
                removed.push(name);
            }
        }
        if !removed.is_empty() {
            self.sync()?;
        }
        Ok(removed)
    }
}

/// Writes `bytes` durably to `path`, replacing what is there (see the module docs).
pub fn replace_file(path: &Path, bytes: &[u8], new: NewFile) -> Result<(), DurableError> {
    let (dir, name) = Dir::open_parent_of(path)?;
    dir.write_file(&name, bytes, new, Replace::Yes)
}

/// Writes `bytes` durably to `path`, which must not exist: if it does, nothing changes
/// and the error says [`DurableError::is_already_exists`]. Of two processes creating the
/// same file at once, exactly one succeeds.
pub fn create_file(path: &Path, bytes: &[u8], new: NewFile) -> Result<(), DurableError> {
    let (dir, name) = Dir::open_parent_of(path)?;
    dir.write_file(&name, bytes, new, Replace::No)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn dir() -> (tempfile::TempDir, Dir) {
        let t = tempfile::tempdir().unwrap();
        let d = Dir::open(t.path()).unwrap();
        (t, d)
    }

    fn names(t: &tempfile::TempDir) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    /// The process's umask, from /proc (reading it with umask(2) would change it for a
    /// moment for every test thread).
    fn umask() -> u32 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix("Umask:"))
            .unwrap();
        u32::from_str_radix(line.trim(), 8).unwrap()
    }

    #[test]
    fn a_file_is_written_through_a_synced_temporary_then_renamed_then_the_folder_synced() {
        let (t, d) = dir();
        let mut steps = Vec::new();
        let file = d
            .write_file_traced(
                ".f.tmp",
                "f",
                b"new",
                NewFile::mode(0o600).owned_by(
                    nix::unistd::getuid().as_raw(),
                    nix::unistd::getgid().as_raw(),
                ),
                Replace::Yes,
                &mut |s| steps.push(s),
            )
            .unwrap();
        drop(file);
        assert_eq!(
            steps,
            [
                Step::Create,
                Step::SetMode,
                Step::SetOwner,
                Step::Write,
                Step::SyncFile,
                Step::Rename,
                Step::SyncFolder
            ]
        );
        assert_eq!(std::fs::read(t.path().join("f")).unwrap(), b"new");
        assert_eq!(names(&t), ["f"], "no temporary file is left");
    }

    #[test]
    fn replace_yes_takes_the_place_of_an_existing_file_and_no_leaves_it_alone() {
        let (t, d) = dir();
        let target = t.path().join("f");
        std::fs::write(&target, "old").unwrap();
        let inode = std::fs::metadata(&target).unwrap().ino();

        let e = create_file(&target, b"new", NewFile::mode(0o644)).unwrap_err();
        assert!(e.is_already_exists(), "{e}");
        assert_eq!(e.step, Step::Rename);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
        assert_eq!(names(&t), ["f"], "the temporary file is removed");

        replace_file(&target, b"new", NewFile::mode(0o644)).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        assert_ne!(
            std::fs::metadata(&target).unwrap().ino(),
            inode,
            "a new file, renamed over"
        );
        assert_eq!(names(&t), ["f"]);

        d.write_file("g", b"first", NewFile::mode(0o644), Replace::No)
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(t.path().join("g")).unwrap(),
            "first"
        );
    }

    #[test]
    fn of_two_writers_creating_one_name_exactly_one_succeeds() {
        let (t, _) = dir();
        let target = t.path().join("marker");
        let results: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let target = &target;
                    s.spawn(move || {
                        create_file(target, format!("{i}").as_bytes(), NewFile::mode(0o600)).is_ok()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(results.iter().filter(|ok| **ok).count(), 1, "{results:?}");
        assert_eq!(names(&t), ["marker"]);
    }

    #[test]
    fn the_mode_is_the_one_asked_for_whatever_the_umask() {
        let (t, d) = dir();
        assert_ne!(
            umask() & 0o066,
            0,
            "this test needs a umask that takes bits from group or others (022, 077)"
        );
        d.write_file("open", b"x", NewFile::mode(0o666), Replace::Yes)
            .unwrap();
        d.write_file("private", b"x", NewFile::mode(0o600), Replace::Yes)
            .unwrap();
        d.create_with("created", b"x", NewFile::mode(0o644))
            .unwrap();
        // A file replaced takes the new file's mode, not the old one's.
        std::fs::write(t.path().join("was-open"), "x").unwrap();
        std::fs::set_permissions(t.path().join("was-open"), PermissionsExt::from_mode(0o666))
            .unwrap();
        d.write_file("was-open", b"y", NewFile::mode(0o600), Replace::Yes)
            .unwrap();
        assert_eq!(mode(&t.path().join("open")), 0o666);
        assert_eq!(mode(&t.path().join("private")), 0o600);
        assert_eq!(mode(&t.path().join("created")), 0o644);
        assert_eq!(mode(&t.path().join("was-open")), 0o600);
    }

    #[test]
    fn a_planted_link_is_never_written_through() {
        let (t, d) = dir();
        let secret = t.path().join("secret");
        std::fs::write(&secret, "untouched").unwrap();
        std::os::unix::fs::symlink(&secret, t.path().join("planted")).unwrap();
        let e = d
            .create_with("planted", b"x", NewFile::mode(0o644))
            .unwrap_err();
        assert!(e.is_already_exists(), "{e}");
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), "untouched");
        // A link where the temporary name goes is refused too, and never followed.
        let e = d
            .write_file_via("planted", "f", b"x", NewFile::mode(0o644), Replace::Yes)
            .unwrap_err();
        assert_eq!(e.step, Step::Create);
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), "untouched");
        assert!(
            std::fs::symlink_metadata(t.path().join("planted"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(!t.path().join("f").exists());
    }

    #[test]
    fn a_failed_rename_removes_the_temporary_file_and_names_the_target_and_the_step() {
        let (t, d) = dir();
        // A non-empty folder under the target name: a file cannot be renamed over it.
        std::fs::create_dir(t.path().join("f")).unwrap();
        std::fs::write(t.path().join("f/inside"), "x").unwrap();
        let e = d
            .write_file("f", b"new", NewFile::mode(0o600), Replace::Yes)
            .unwrap_err();
        assert_eq!(e.step, Step::Rename);
        assert_eq!(e.path, t.path().join("f"));
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "cannot rename into {}: ",
                t.path().join("f").display()
            )),
            "{text}"
        );
        assert_eq!(names(&t), ["f"], "no temporary file is left");
    }

    #[test]
    fn errors_name_the_file_and_the_step() {
        let t = tempfile::tempdir().unwrap();
        let missing = t.path().join("no/such/folder/f");
        let e = replace_file(&missing, b"x", NewFile::mode(0o600)).unwrap_err();
        assert_eq!(e.step, Step::OpenFolder);
        assert_eq!(
            e.to_string(),
            format!(
                "cannot open the folder {}: No such file or directory (os error 2)",
                t.path().join("no/such/folder").display()
            )
        );
        let (t, d) = dir();
        std::fs::write(t.path().join("taken"), "x").unwrap();
        let e = d
            .create_with("taken", b"y", NewFile::mode(0o600))
            .unwrap_err();
        assert_eq!(e.step, Step::Create);
        assert!(
            e.to_string().starts_with(&format!(
                "cannot create {}: ",
                t.path().join("taken").display()
            )),
            "{e}"
        );
    }

    #[test]
    fn crash_leftovers_are_hidden_temporaries_and_are_removed_by_the_owner() {
        let (t, d) = dir();
        // What a crash between the temporary file and the rename leaves: the temporary
        // file as write_file names it, and the target untouched.
        std::fs::write(t.path().join("f"), "old").unwrap();
        let left = temporary_name("f");
        d.create_with(&left, b"half", NewFile::mode(0o600)).unwrap();
        assert!(is_temporary(&left), "{left}");
        assert!(!is_temporary("f"));
        assert!(!is_temporary(".tmp"));
        assert!(!is_temporary("visible.tmp"));
        // A later write of the same file is not hindered by it.
        d.write_file("f", b"new", NewFile::mode(0o600), Replace::Yes)
            .unwrap();
        assert_eq!(names(&t), [left.clone(), "f".to_owned()]);
        assert_eq!(d.remove_leftovers(is_temporary).unwrap(), [left]);
        assert_eq!(names(&t), ["f"]);
        assert_eq!(std::fs::read_to_string(t.path().join("f")).unwrap(), "new");
        assert!(d.remove_leftovers(is_temporary).unwrap().is_empty());
    }

    #[test]
    fn a_taken_temporary_name_is_skipped_for_the_next() {
        let (t, d) = dir();
        // The next temporary name is already a leftover (a crashed process of the same
        // pid): write_file moves on to another.
        let next = temporary_name("f");
        let (prefix, _) = next.rsplit_once('-').unwrap();
        let counter: u64 = next[prefix.len() + 1..next.len() - TEMP_SUFFIX.len()]
            .parse()
            .unwrap();
        // Every name up to a few ahead, in case other tests take some meanwhile.
        for n in counter + 1..counter + 4 {
            std::fs::write(t.path().join(format!("{prefix}-{n}{TEMP_SUFFIX}")), "x").unwrap();
        }
        d.write_file("f", b"new", NewFile::mode(0o600), Replace::Yes)
            .unwrap();
        assert_eq!(std::fs::read_to_string(t.path().join("f")).unwrap(), "new");
    }

    #[test]
    fn the_link_fallback_never_replaces_and_leaves_one_name() {
        let (t, d) = dir();
        std::fs::write(t.path().join("taken"), "old").unwrap();
        d.create_with("a", b"new", NewFile::mode(0o600)).unwrap();
        let e = d.link_then_unlink("a", &d, "taken").unwrap_err();
        assert!(e.is_already_exists(), "{e}");
        assert_eq!(e.step, Step::Link);
        assert_eq!(
            std::fs::read_to_string(t.path().join("taken")).unwrap(),
            "old"
        );
        d.link_then_unlink("a", &d, "free").unwrap();
        assert_eq!(names(&t), ["free", "taken"]);
        assert_eq!(std::fs::metadata(t.path().join("free")).unwrap().nlink(), 1);
    }
}
