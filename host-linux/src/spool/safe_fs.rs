//! Files in smsd's folders, opened so that whoever may write into those folders cannot
//! steer the bot, which runs as root.
//!
//! Debian lays the spool out group-writable and sticky: a local user allowed to send SMS
//! can put anything into outgoing/, at any moment, under any name, including a symbolic
//! link to a root-only file, a FIFO, a hard link or a file of any size, and can swap one
//! for another between two system calls of the bot. This module owns every access the
//! spool code makes to a file in those folders, with these rules:
//! - a folder is opened once ([`SpoolDir`]); every file operation after that is relative
//!   to its descriptor (`openat`, `renameat2`, `unlinkat`, `fstatat`), never by a path
//!   that could be re-resolved;
//! - a file is opened once, with `O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY`, and
//!   judged by `fstat` on that descriptor ([`SpoolDir::open_regular`], [`judge`]): a
//!   regular file, one link, no larger than the caller's limit, and, for a file somebody
//!   dropped for smsd, readable by the folder's owner (smsd's user), so that root reads
//!   nothing smsd could not. Everything read comes from that descriptor, bounded by the
//!   limit;
//! - a file the bot creates is created with `O_CREAT | O_EXCL | O_NOFOLLOW`
//!   ([`SpoolDir::create_new`]): never through a planted link, never over another file;
//!   its mode is smsd's ([`SMSD_FILE_MODE`], whatever the bot's umask) and, when the bot
//!   runs as root, its owner and group are the folder's, as if smsd (Debian: user
//!   `smsd`) had written it.
//!
//! The folder's descriptor and the writes through it (create, fsync, rename, remove,
//! fsync of the folder) are the crate's one durable-write mechanism,
//! [`crate::platform::durable::Dir`]; this module adds what smsd's folders need on top:
//! smsd's mode and owner, and the checks on what is read.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};

use super::SpoolError;
use crate::platform::durable::{Dir, DurableError, NewFile, Replace};

/// The mode of the files smsd writes into its spool: it creates them `0666` less its
/// umask (`fopen_mkstemp`), and its service runs with systemd's default umask 022. Set
/// exactly, whatever the bot's own umask (its unit's `UMask=0077` keeps the bot's private
/// files private, and must not hide incoming messages from the programs that read them).
pub const SMSD_FILE_MODE: u32 = 0o644;

/// Why a file was not opened: it is not something the bot reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A symbolic link.
    Link,
    /// Not a regular file.
    NotRegular(FileKind),
    /// More bytes than the limit.
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A hard link to a file that has other names (possibly outside the spool).
    HardLinked {
        /// Its link count.
        links: u64,
    },
    /// Its permissions do not let the folder's owner read it: smsd, running as that user,
    /// could not read it either (a root-only file moved into the spool).
    NotForSpoolOwner {
        /// The folder's owner.
        uid: u32,
    },
}

/// What a name in a folder is, when it is not a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A FIFO: opening it for reading would block until a writer comes.
    Fifo,
    /// A socket.
    Socket,
    /// A folder.
    Folder,
    /// A character or block device.
    Device,
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FileKind::Fifo => "FIFO",
            FileKind::Socket => "socket",
            FileKind::Folder => "folder",
            FileKind::Device => "device",
        })
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Link => write!(f, "it is a symbolic link"),
            Refusal::NotRegular(kind) => write!(f, "it is a {kind}, not a regular file"),
            Refusal::TooLarge { size, limit } => {
                write!(
                    f,
                    "it is {size} bytes, more than the {limit} an SMS file may have"
                )
            }
            Refusal::HardLinked { links } => {
                write!(f, "it is a hard link ({links} names for one file)")
            }
            Refusal::NotForSpoolOwner { uid } => write!(
                f,
                "its permissions do not let the folder's owner (uid {uid}) read it, so smsd \
                 could not either"
            ),
        }
    }
}

/// What [`SpoolDir::open_regular`] found under a name.
#[derive(Debug)]
pub enum Opened {
    /// A regular file within the limit, open for reading.
    File(SpoolFile),
    /// Nothing by that name (any more).
    Gone,
    /// Something the bot does not read; it was not read (a FIFO was opened without
    /// blocking and closed).
    Refused(Refusal),
}

/// A regular file opened by [`SpoolDir::open_regular`], and what `fstat` said of it.
#[derive(Debug)]
pub struct SpoolFile {
    file: File,
    stat: FileStat,
    limit: u64,
}

impl SpoolFile {
    /// Its bytes, read from the descriptor, at most the limit it was opened with: a file
    /// that grew beyond it since is refused as [`Refusal::TooLarge`].
    pub fn read_all(&mut self) -> Result<Result<Vec<u8>, Refusal>, std::io::Error> {
        let mut bytes = Vec::with_capacity(usize::try_from(self.size()).unwrap_or(0));
        (&mut self.file)
            .take(self.limit.saturating_add(1))
            .read_to_end(&mut bytes)?;
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if len > self.limit {
            return Ok(Err(Refusal::TooLarge {
                size: len,
                limit: self.limit,
            }));
        }
        Ok(Ok(bytes))
    }

    /// The open file itself (its offset after [`Self::read_all`]: the end).
    pub fn into_file(self) -> File {
        self.file
    }

    /// Its size when it was opened.
    pub fn size(&self) -> u64 {
        u64::try_from(self.stat.st_size).unwrap_or(0)
    }

    /// Its device and inode: which file it is, whatever its name now.
    pub fn identity(&self) -> (u64, u64) {
        identity(&self.stat)
    }
}

fn identity(stat: &FileStat) -> (u64, u64) {
    #[allow(clippy::useless_conversion)] // dev_t and ino_t are u64 on some targets only
    (u64::from(stat.st_dev), u64::from(stat.st_ino))
}

/// What `mode` says the file is: `Ok` for a regular file.
fn regular(mode: u32) -> Result<(), Refusal> {
    let kind = SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits());
    if kind == SFlag::S_IFREG {
        Ok(())
    } else if kind == SFlag::S_IFLNK {
        Err(Refusal::Link)
    } else if kind == SFlag::S_IFIFO {
        Err(Refusal::NotRegular(FileKind::Fifo))
    } else if kind == SFlag::S_IFSOCK {
        Err(Refusal::NotRegular(FileKind::Socket))
    } else if kind == SFlag::S_IFDIR {
        Err(Refusal::NotRegular(FileKind::Folder))
    } else {
        Err(Refusal::NotRegular(FileKind::Device))
    }
}

/// Whether a file of `mode`, owned by `uid`:`gid`, is readable by `reader_uid` (in
/// `reader_gid`) by its permission bits alone; root reads everything.
pub fn readable_by(
    mode: u32,
    (uid, gid): (u32, u32),
    (reader_uid, reader_gid): (u32, u32),
) -> bool {
    if reader_uid == 0 {
        return true;
    }
    let bit = if uid == reader_uid {
        0o400
    } else if gid == reader_gid {
        0o040
    } else {
        0o004
    };
    mode & bit != 0
}

/// Whose file the bot expects under a name, which decides the rules it is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    /// A file somebody dropped for smsd (outgoing/, checked/): smsd's user (the folder's
    /// owner) must be able to read it.
    Dropped,
    /// A file the bot writes itself (its ledger, `.LOCK`, sent/ and failed/ files), read
    /// back by the bot whatever the umask made of its mode.
    Bots,
}

/// The verdict on a file `stat` describes: `None` when the bot may read it. The rules, in
/// order: a regular file; at most `limit` bytes; one link (a hard link can bring any file
/// of the file system into the spool); and, when `owner` (the folder's uid and gid) is
/// given, readable by that user (smsd's), so that the bot, as root, reads nothing smsd
/// could not.
pub fn judge(stat: &FileStat, limit: u64, owner: Option<(u32, u32)>) -> Option<Refusal> {
    #[allow(clippy::useless_conversion)] // mode_t is u16 on some targets
    let mode = u32::from(stat.st_mode);
    if let Err(r) = regular(mode) {
        return Some(r);
    }
    let size = u64::try_from(stat.st_size).unwrap_or(u64::MAX);
    if size > limit {
        return Some(Refusal::TooLarge { size, limit });
    }
    #[allow(clippy::useless_conversion)] // nlink_t is u32 on some targets
    let links = u64::from(stat.st_nlink);
    if links > 1 {
        return Some(Refusal::HardLinked { links });
    }
    if let Some(owner) = owner
        && !readable_by(mode, (stat.st_uid, stat.st_gid), owner)
    {
        return Some(Refusal::NotForSpoolOwner { uid: owner.0 });
    }
    None
}

/// A spool folder, opened once; every file operation is relative to its descriptor.
#[derive(Debug)]
pub struct SpoolDir {
    dir: Dir,
    /// The folder's owner and group (smsd's user and group on Debian).
    owner: (u32, u32),
}

impl SpoolDir {
    /// Opens the folder at `path` (as configured: a configured path may itself be a link
    /// the administrator made).
    pub fn open(path: &Path) -> Result<SpoolDir, SpoolError> {
        let dir = Dir::open(path)?;
        let stat = fstat(&dir).map_err(SpoolError::nix("cannot fstat", path))?;
        Ok(SpoolDir {
            dir,
            owner: (stat.st_uid, stat.st_gid),
        })
    }

    /// How the bot creates a file here: smsd's mode and, when the bot runs as root, the
    /// folder's owner, as if smsd had written it.
    fn new_file(&self) -> NewFile {
        let file = NewFile::mode(SMSD_FILE_MODE);
        if nix::unistd::geteuid().is_root() {
            file.owned_by(self.owner.0, self.owner.1)
        } else {
            file
        }
    }

    /// [`judge`] for a file of this folder.
    pub fn judge(&self, stat: &FileStat, limit: u64, whose: Whose) -> Option<Refusal> {
        let owner = (whose == Whose::Dropped).then_some(self.owner);
        judge(stat, limit, owner)
    }

    /// Its path, for messages and for callers that report where a file went.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The path of `name` in it (for messages; never opened by the spool code).
    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Opens `name` for reading, once, without following a link or blocking on a FIFO,
    /// and judges it by `fstat` on the descriptor ([`judge`], by the rules for `whose`), or
    /// a [`Refusal`].
    pub fn open_regular(&self, name: &str, limit: u64, whose: Whose) -> Result<Opened, SpoolError> {
        self.open_checked(name, limit, whose, OFlag::O_RDONLY)
    }

    /// [`Self::open_regular`] for reading and appending (the delivery ledger).
    pub fn open_regular_append(
        &self,
        name: &str,
        limit: u64,
        whose: Whose,
    ) -> Result<Opened, SpoolError> {
        self.open_checked(name, limit, whose, OFlag::O_RDWR | OFlag::O_APPEND)
    }

    fn open_checked(
        &self,
        name: &str,
        limit: u64,
        whose: Whose,
        access: OFlag,
    ) -> Result<Opened, SpoolError> {
        // A cheap look first, so that nothing but a regular file is ever opened (opening
        // a device can have effects); the descriptor's fstat below is what counts.
        match self.stat(name)? {
            None => return Ok(Opened::Gone),
            Some(stat) => {
                if let Some(r @ (Refusal::Link | Refusal::NotRegular(_))) =
                    self.judge(&stat, limit, whose)
                {
                    return Ok(Opened::Refused(r));
                }
            }
        }
        let flags =
            access | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOCTTY;
        let fd = match openat(&self.dir, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(Opened::Gone),
            // O_NOFOLLOW on a link: swapped in since the look above.
            Err(Errno::ELOOP) => return Ok(Opened::Refused(Refusal::Link)),
            Err(Errno::ENXIO) => {
                return Ok(Opened::Refused(Refusal::NotRegular(FileKind::Socket)));
            }
            Err(e) => return Err(SpoolError::nix("cannot open", &self.join(name))(e)),
        };
        let stat = fstat(&fd).map_err(SpoolError::nix("cannot fstat", &self.join(name)))?;
        if let Some(r) = self.judge(&stat, limit, whose) {
            return Ok(Opened::Refused(r));
        }
        Ok(Opened::File(SpoolFile {
            file: File::from(fd),
            stat,
            limit,
        }))
    }

    /// `lstat` of `name` (not following a link); `None` when there is none.
    pub fn stat(&self, name: &str) -> Result<Option<FileStat>, SpoolError> {
        match fstatat(&self.dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(s) => Ok(Some(s)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(SpoolError::nix("cannot stat", &self.join(name))(e)),
        }
    }

    /// Whether `name` is, right now, the very file `file` was opened from.
    pub fn holds(&self, name: &str, file: &SpoolFile) -> Result<bool, SpoolError> {
        Ok(self
            .stat(name)?
            .is_some_and(|s| identity(&s) == file.identity()))
    }

    /// Creates `name`, which must not exist (a link or anything else there: an
    /// `AlreadyExists` error), with smsd's mode and the folder's owner, open for writing.
    pub fn create(&self, name: &str) -> Result<File, SpoolError> {
        Ok(self.dir.create(name, self.new_file())?)
    }

    /// [`Self::create`], then writes `bytes` and fsyncs the file (a file that cannot be
    /// written whole is removed again).
    pub fn create_new(&self, name: &str, bytes: &[u8]) -> Result<(), SpoolError> {
        Ok(self.dir.create_with(name, bytes, self.new_file())?)
    }

    /// Writes `bytes` as `name` durably through the temporary name `temp` (which must not
    /// exist), replacing `name`: created as [`Self::create`] does, fsynced, renamed,
    /// the folder fsynced. The file stays open for writing (its offset at the end).
    pub fn write_file_via(&self, temp: &str, name: &str, bytes: &[u8]) -> Result<File, SpoolError> {
        Ok(self
            .dir
            .write_file_via(temp, name, bytes, self.new_file(), Replace::Yes)?)
    }

    /// Renames `from` here to `to` in `dest` unless `to` exists (`Ok(false)`); a missing
    /// `from` is `NotFound`. Never replaces a file.
    pub fn rename_no_replace(
        &self,
        from: &str,
        dest: &SpoolDir,
        to: &str,
    ) -> Result<bool, SpoolError> {
        match self.dir.rename(from, &dest.dir, to, Replace::No) {
            Ok(()) => Ok(true),
            Err(e) if e.is_already_exists() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Renames `from` here to `to` in `dest`, replacing `to`. An error with `EXDEV`
    /// (another file system) is the caller's to copy instead.
    pub fn rename(&self, from: &str, dest: &SpoolDir, to: &str) -> Result<(), DurableError> {
        self.dir.rename(from, &dest.dir, to, Replace::Yes)
    }

    /// Removes `name` (a link itself, never what it points to); nothing there is fine.
    pub fn remove(&self, name: &str) -> Result<(), SpoolError> {
        Ok(self.dir.remove(name)?)
    }

    /// fsyncs the folder: created, renamed and removed names survive a power loss.
    pub fn sync(&self) -> Result<(), SpoolError> {
        Ok(self.dir.sync()?)
    }

    /// The names in the folder, at most `max` (the rest are seen next time).
    pub fn names(&self, max: usize) -> Result<Vec<String>, SpoolError> {
        // Names only: nothing is opened through this listing.
        Ok(self.dir.names(max)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn dir() -> (tempfile::TempDir, SpoolDir) {
        let t = tempfile::tempdir().unwrap();
        let d = SpoolDir::open(t.path()).unwrap();
        (t, d)
    }

    fn refusal(d: &SpoolDir, name: &str, limit: u64) -> Refusal {
        match d.open_regular(name, limit, Whose::Dropped).unwrap() {
            Opened::Refused(r) => r,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn a_link_a_fifo_a_hard_link_and_a_large_file_are_refused_unread() {
        let (t, d) = dir();
        std::fs::write(t.path().join("secret"), "root only").unwrap();
        std::os::unix::fs::symlink(t.path().join("secret"), t.path().join("link")).unwrap();
        nix::unistd::mkfifo(&t.path().join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        std::fs::hard_link(t.path().join("secret"), t.path().join("hard")).unwrap();
        std::fs::write(t.path().join("big"), vec![b'x'; 101]).unwrap();
        std::fs::create_dir(t.path().join("sub")).unwrap();
        assert_eq!(refusal(&d, "link", 100), Refusal::Link);
        // Would block forever if opened without O_NONBLOCK: nobody writes into it.
        assert_eq!(
            refusal(&d, "fifo", 100),
            Refusal::NotRegular(FileKind::Fifo)
        );
        assert_eq!(refusal(&d, "hard", 100), Refusal::HardLinked { links: 2 });
        assert_eq!(
            refusal(&d, "big", 100),
            Refusal::TooLarge {
                size: 101,
                limit: 100
            }
        );
        assert_eq!(
            refusal(&d, "sub", 100),
            Refusal::NotRegular(FileKind::Folder)
        );
        assert!(matches!(
            d.open_regular("none", 100, Whose::Dropped).unwrap(),
            Opened::Gone
        ));
    }

    #[test]
    fn only_what_the_folders_owner_could_read_is_read() {
        let smsd = (105, 105);
        // smsd's own files, and what others drop readable for it.
        assert!(readable_by(0o600, (105, 20), smsd));
        assert!(readable_by(0o640, (65534, 105), smsd));
        assert!(readable_by(0o644, (65534, 65534), smsd));
        // A root-only file (moved in from elsewhere) and one kept from smsd's group.
        assert!(!readable_by(0o600, (0, 0), smsd));
        assert!(!readable_by(0o604, (65534, 105), smsd));
        assert!(!readable_by(0o060, (105, 105), smsd));
        // smsd running as root (folders owned by root): everything, as smsd would.
        assert!(readable_by(0o000, (0, 0), (0, 0)));
    }

    #[test]
    fn a_file_that_grows_after_it_was_opened_is_read_no_further_than_the_limit() {
        let (t, d) = dir();
        std::fs::write(t.path().join("f"), "small").unwrap();
        let Opened::File(mut f) = d.open_regular("f", 10, Whose::Dropped).unwrap() else {
            panic!("not opened");
        };
        std::fs::write(t.path().join("f"), vec![b'y'; 1000]).unwrap();
        assert_eq!(
            f.read_all().unwrap(),
            Err(Refusal::TooLarge {
                size: 11,
                limit: 10
            })
        );
    }

    #[test]
    fn the_file_read_is_the_one_opened_even_if_its_name_is_swapped_for_a_link() {
        let (t, d) = dir();
        std::fs::write(t.path().join("secret"), "root only").unwrap();
        std::fs::write(t.path().join("m"), "To: 49\n\nmine").unwrap();
        let Opened::File(mut f) = d.open_regular("m", 100, Whose::Dropped).unwrap() else {
            panic!("not opened");
        };
        std::fs::remove_file(t.path().join("m")).unwrap();
        std::os::unix::fs::symlink(t.path().join("secret"), t.path().join("m")).unwrap();
        assert!(!d.holds("m", &f).unwrap());
        assert_eq!(f.read_all().unwrap().unwrap(), b"To: 49\n\nmine");
    }

    #[test]
    fn a_created_file_never_goes_through_a_planted_link_and_has_smsds_mode() {
        let (t, d) = dir();
        let target = t.path().join("target");
        std::fs::write(&target, "untouched").unwrap();
        std::os::unix::fs::symlink(&target, t.path().join("planted")).unwrap();
        let e = d.create_new("planted", b"x").unwrap_err();
        assert!(e.to_string().contains("planted"), "{e}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");
        d.create_new("new", b"x").unwrap();
        let meta = std::fs::metadata(t.path().join("new")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, SMSD_FILE_MODE);
        assert_eq!(meta.nlink(), 1);
    }
}
