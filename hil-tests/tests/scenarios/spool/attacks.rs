//! A local user who may write into smsd's spool attacks the real `sim7600 voice-bot`
//! (running as root) on the simulator, with the real smsd's folders laid out as Debian
//! lays them out: group-writable, setgid and sticky (`3775`), the attacker in the group.
//! The attacker runs as `nobody` (`setpriv --reuid=nobody --regid=nogroup
//! --clear-groups`); the folders' group is `nogroup`, standing for Debian's `smsd`.
//!
//! Each attack is deterministic: a file swapped "between the bot's scan and its read" is
//! swapped while the bot is held in the middle of sending the file scanned before it (the
//! simulator loses that file's `AT+CMGS` and stalls), so the swapped name is read from a
//! scan made before the swap. What the bot must never do: read a root-only file through
//! a link, send it or copy it where others can read it, block on a FIFO, write outside
//! the spool, or read a file far larger than any SMS file.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::bot::{Bot, BotFiles, BotSetup, rig, smsd_backend, write_config};
use hil_tests::Rig;
use hil_tests::wait::{wait_for, wait_until_port_free};
use nix::sys::signal::Signal;

const WITHIN: Duration = Duration::from_secs(60);
/// What the root-only file says: the text an attacker would like to have sent to them.
const SECRET: &str = "root:$6$saltsalt$hashhashhash:19000:0:99999:7:::";
/// The attacker's number, in the root-only file's `To:`.
const ATTACKER: &str = "4915199999999";
/// Debian's mode for smsd's spool folders (its postinst: `dpkg-statoverride --add smsd
/// smsd 3775`).
const DEBIAN_SPOOL_MODE: u32 = 0o3775;
/// nogroup: the attacker's group, the spool folders' group as `smsd` is on Debian.
const ATTACKER_GROUP: u32 = 65534;

fn spool_dir(rig: &Rig, folder: &str) -> PathBuf {
    rig.dir().join("smsd").join(folder)
}

/// The rig's spool as Debian lays it out (`smsd:smsd 3775`, here `smsd:nogroup`), and the
/// way to it open to everybody.
fn debian_spool(rig: &Rig) {
    spool_owned_by(rig, smsd_uid());
}

/// The uid of Debian's `smsd` user (the smstools package creates it).
fn smsd_uid() -> u32 {
    nix::unistd::User::from_name("smsd")
        .unwrap()
        .expect("no user smsd: install smstools (its package creates the user)")
        .uid
        .as_raw()
}

/// The spool's folders owned by `uid`, group the attacker's, mode 3775.
fn spool_owned_by(rig: &Rig, uid: u32) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these scenarios run the bot as root and the attacker as nobody: run them as root"
    );
    for d in [rig.dir().to_path_buf(), rig.dir().join("smsd")] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for folder in ["outgoing", "checked", "incoming", "sent", "failed"] {
        let d = spool_dir(rig, folder);
        std::os::unix::fs::chown(&d, Some(uid), Some(ATTACKER_GROUP)).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(DEBIAN_SPOOL_MODE)).unwrap();
    }
}

/// Runs `script` with `sh` as the unprivileged attacker, in `dir`; panics unless it
/// succeeds.
/// The bot's loop was not held: a file `name` (its text its name) dropped into `outgoing`
/// now is sent, and the bot runs on.
fn a_file_dropped_now_is_sent(rig: &Rig, bot: &mut Bot, outgoing: &Path, name: &str) {
    as_attacker(
        outgoing,
        &format!("printf 'To: 491721234567\\n\\n{name}\\n' > .{name} && mv .{name} {name}"),
    );
    let sent = spool_dir(rig, "sent");
    wait_for(format!("{name} in sent/"), WITHIN, || {
        sent.join(name).exists().then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}; bot log:\n{}", bot.log_text()));
    bot.wait_status("the bot running on", WITHIN, |s| s["phase"] == "running");
}

fn as_attacker(dir: &Path, script: &str) {
    let out = Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "--",
            "sh",
            "-c",
            script,
        ])
        .current_dir(dir)
        .output()
        .expect("setpriv not found: install util-linux");
    assert!(
        out.status.success(),
        "as nobody: {script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A root-only file outside the spool (a stand-in for /etc/shadow) that nobody cannot
/// read; checked.
fn root_only_file(rig: &Rig) -> PathBuf {
    let path = rig.dir().join("shadow");
    std::fs::write(&path, format!("To: {ATTACKER}\n\n{SECRET}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "cat"])
        .arg(&path)
        .stderr(Stdio::null())
        .output()
        .expect("setpriv not found: install util-linux");
    assert!(!out.status.success(), "nobody can read {}", path.display());
    path
}

fn bot_files(rig: &mut Rig) -> BotFiles {
    let setup = BotSetup {
        answer_after_rings: 3,
        bot: String::new(),
        handoff: smsd_backend(rig.smsd().unwrap()),
    };
    write_config(rig, &setup)
}

/// smsd prepared on the rig (its folders and configuration), not running.
fn smsd_prepared_and_stopped(rig: &mut Rig) {
    let port = rig.port().to_path_buf();
    rig.start_smsd().unwrap();
    rig.smsd().unwrap().stop().unwrap();
    wait_until_port_free(&port, WITHIN).unwrap();
}

/// What the simulated network received.
fn texts_on_air(rig: &Rig) -> Vec<(String, String)> {
    rig.modem()
        .state()
        .unwrap()
        .modem
        .sent
        .iter()
        .map(|s| (s.number.clone(), s.text.clone()))
        .collect()
}

/// Every file below `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if meta.is_file()
            && std::fs::read(&path)
                .map(|b| String::from_utf8_lossy(&b).contains(needle))
                .unwrap_or(false)
        {
            found.push(path);
        }
    }
    found
}

/// Three files dropped by the attacker before the bot starts, oldest first: `a`, `f` and
/// `b`. The bot's first scan sees all three; the simulator loses `a`'s `AT+CMGS` and
/// stalls, so the bot is held with `a` claimed and `b` scanned but not yet read. Then
/// `swap` (run as the attacker in outgoing/) replaces `b`. The simulator may leave the
/// first command after the bot gives up the lost `AT+CMGS` unanswered (it follows the
/// bot's escape character): that one is `f`'s, so that whatever the bot makes of `b`
/// reaches the modem.
/// Returns the running bot once `a` and `f` are in sent/.
fn swap_b_while_a_is_sent(rig: &mut Rig, swap: &str) -> (Bot, PathBuf) {
    smsd_prepared_and_stopped(rig);
    debian_spool(rig);
    let outgoing = spool_dir(rig, "outgoing");
    let sent = spool_dir(rig, "sent");
    as_attacker(
        &outgoing,
        "printf 'To: 491721234567\\n\\nfirst\\n' > .a && touch -d '2020-01-01' .a && mv .a a \
         && printf 'To: 491721234567\\n\\nfiller\\n' > .f && touch -d '2020-01-02' .f \
         && mv .f f && printf 'To: 491721234567\\n\\nsecond\\n' > .b && mv .b b",
    );
    rig.sim()
        .unwrap()
        .stall_on("AT+CMGS", Duration::from_secs(3), 0)
        .unwrap();
    let files = bot_files(rig);
    let bot = Bot::start(&files);
    wait_for("the bot held sending a", WITHIN, || {
        let stalled = rig.modem().state().ok()?.modem.stalled;
        (stalled && outgoing.join(".a.sim7600-sending").exists()).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}; bot log:\n{}", bot.log_text()));
    as_attacker(&outgoing, swap);
    wait_for("a and f in sent/", WITHIN, || {
        (sent.join("a").exists() && sent.join("f").exists()).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}; bot log:\n{}", bot.log_text()));
    (bot, outgoing)
}

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(
    a_file_swapped_for_a_link_to_a_root_only_file_is_never_read_sent_or_copied,
    a_file_swapped_for_a_fifo_does_not_block_the_bot,
    a_link_planted_as_the_delivery_ledger_makes_the_bot_write_nothing_outside_the_spool,
    a_100_mb_file_in_outgoing_is_left_alone_unread_and_the_bot_stays_small,
    files_the_bot_writes_into_the_spool_get_the_modes_smsd_gives_its_own,
    a_root_only_file_moved_into_outgoing_is_not_sent_since_smsd_could_not_read_it,
);

fn a_file_swapped_for_a_link_to_a_root_only_file_is_never_read_sent_or_copied() {
    let mut rig = rig();
    let shadow = root_only_file(&rig);
    let (mut bot, outgoing) =
        swap_b_while_a_is_sent(&mut rig, &format!("rm b && ln -s '{}' b", shadow.display()));
    bot.wait_status("the bot running on", WITHIN, |s| s["phase"] == "running");
    let on_air = texts_on_air(&rig);
    assert!(
        on_air
            .iter()
            .all(|(n, t)| !t.contains(SECRET) && n != &format!("+{ATTACKER}")),
        "the root-only file went out: {on_air:?}"
    );
    assert!(
        files_containing(&rig.dir().join("smsd"), SECRET).is_empty(),
        "copied into the spool: {:?}",
        files_containing(&rig.dir().join("smsd"), SECRET)
    );
    let b = std::fs::symlink_metadata(outgoing.join("b")).unwrap();
    assert!(b.file_type().is_symlink(), "the link is left where it was");
    assert!(
        bot.log_text().contains("left alone, unread"),
        "{}",
        bot.log_text()
    );
    let status = bot.stop_with(Signal::SIGTERM, WITHIN);
    assert!(status.success(), "{status}");
}

fn a_file_swapped_for_a_fifo_does_not_block_the_bot() {
    let mut rig = rig();
    let (mut bot, outgoing) = swap_b_while_a_is_sent(&mut rig, "rm b && mkfifo b");
    // The loop goes on: a file dropped now is sent too.
    a_file_dropped_now_is_sent(&rig, &mut bot, &outgoing, "c");
    let meta = std::fs::symlink_metadata(outgoing.join("b")).unwrap();
    assert!(meta.file_type().is_fifo(), "left where it was");
    let status = bot.stop_with(Signal::SIGTERM, WITHIN);
    assert!(status.success(), "{status}");
}

/// `sim7600 restore` with the bot's config, killed (and the test failed) if it has not
/// exited within `within`.
fn restore_within(files: &BotFiles, within: Duration) -> String {
    let mut child = Command::new(hil_tests::sim7600_bin().unwrap())
        .arg("--config")
        .arg(&files.config)
        .arg("restore")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(files.dir.join("restore.log")).unwrap())
        .spawn()
        .unwrap();
    let end = Instant::now() + within;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "sim7600 restore still runs after {within:?}; its log:\n{}",
                std::fs::read_to_string(files.dir.join("restore.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(files.dir.join("restore.log")).unwrap_or_default();
    assert!(status.success(), "{status}: {log}");
    log
}

#[test]
fn a_fifo_named_like_a_lock_blocks_neither_the_start_nor_restore() {
    let mut rig = rig();
    smsd_prepared_and_stopped(&mut rig);
    debian_spool(&rig);
    let outgoing = spool_dir(&rig, "outgoing");
    as_attacker(&outgoing, "mkfifo x.LOCK");
    let files = bot_files(&mut rig);
    let bot = Bot::start(&files);
    let status = bot.stop_with(Signal::SIGTERM, WITHIN);
    assert!(status.success(), "{status}");
    restore_within(&files, Duration::from_secs(20));
    assert!(
        std::fs::symlink_metadata(outgoing.join("x.LOCK"))
            .unwrap()
            .file_type()
            .is_fifo(),
        "not the bot's: left alone"
    );
}

fn a_link_planted_as_the_delivery_ledger_makes_the_bot_write_nothing_outside_the_spool() {
    let mut rig = rig();
    smsd_prepared_and_stopped(&mut rig);
    debian_spool(&rig);
    let victim = rig.dir().join("victim");
    std::fs::write(&victim, "root's file\n").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    let incoming = spool_dir(&rig, "incoming");
    // Both the modem's ledger and the shared one a bot takes over from before.
    for name in [".sim7600-delivered.GSM1", ".sim7600-delivered"] {
        as_attacker(&incoming, &format!("ln -s '{}' {name}", victim.display()));
    }
    let files = bot_files(&mut rig);
    let bot = Bot::start(&files);
    rig.sim()
        .unwrap()
        .sms("+31641600986", "Delivered once")
        .unwrap();
    wait_for("the SMS in incoming/", WITHIN, || {
        (!hil_tests::smsd::incoming_files(&incoming).is_empty()).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}; bot log:\n{}", bot.log_text()));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root's file\n");
    let ledger = std::fs::symlink_metadata(incoming.join(".sim7600-delivered.GSM1")).unwrap();
    assert!(ledger.is_file(), "the bot's own ledger, not the link");
    let status = bot.stop_with(Signal::SIGTERM, WITHIN);
    assert!(status.success(), "{status}");
}

/// A 1 MiB tmpfs mounted on a folder, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(on: &Path) -> Tmpfs {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(on)
            .output()
            .expect("mount(8) not found: install util-linux");
        assert!(out.status.success(), "mount on {}: {out:?}", on.display());
        Tmpfs(on.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_planted_sent_link_with_sent_on_another_file_system_copies_nothing_on_recovery() {
    let mut rig = rig();
    smsd_prepared_and_stopped(&mut rig);
    let sent = spool_dir(&rig, "sent");
    let _tmpfs = Tmpfs::mount(&sent);
    debian_spool(&rig);
    assert_ne!(
        std::fs::metadata(&sent).unwrap().dev(),
        std::fs::metadata(spool_dir(&rig, "outgoing"))
            .unwrap()
            .dev(),
        "sent/ on another file system"
    );
    let shadow = root_only_file(&rig);
    let outgoing = spool_dir(&rig, "outgoing");
    as_attacker(
        &outgoing,
        &format!("ln -s '{}' .x.sim7600-sent", shadow.display()),
    );
    // Recovery runs when the bot opens the spool, and in restore.
    let files = bot_files(&mut rig);
    let bot = Bot::start(&files);
    let status = bot.stop_with(Signal::SIGTERM, WITHIN);
    assert!(status.success(), "{status}");
    restore_within(&files, Duration::from_secs(20));
    assert!(
        files_containing(&rig.dir().join("smsd"), SECRET).is_empty(),
        "copied into the spool: {:?}",
        files_containing(&rig.dir().join("smsd"), SECRET)
    );
    assert!(!sent.join("x").exists());
}

/// The bot's peak resident memory (VmHWM), in KiB.
fn peak_rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn a_100_mb_file_in_outgoing_is_left_alone_unread_and_the_bot_stays_small() {
    let mut rig = rig();
    smsd_prepared_and_stopped(&mut rig);
    debian_spool(&rig);
    let outgoing = spool_dir(&rig, "outgoing");
    let files = bot_files(&mut rig);
    let mut bot = Bot::start(&files);
    as_attacker(
        &outgoing,
        "{ printf 'To: 491721234567\\n\\n'; head -c 100000000 /dev/zero | tr '\\0' x; } > .big \
         && mv .big big",
    );
    // A file dropped after it is still sent: the loop was not held.
    a_file_dropped_now_is_sent(&rig, &mut bot, &outgoing, "n");
    let peak = peak_rss_kib(bot.pid);
    eprintln!("the bot's peak RSS with a 100 MB file in outgoing/: {peak} KiB");
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB");
    assert_eq!(
        std::fs::metadata(outgoing.join("big")).unwrap().len(),
        100_000_000 + 18,
        "left in outgoing/, untouched"
    );
    assert!(!spool_dir(&rig, "failed").join("big").exists());
    assert!(
        bot.log_text().contains("more than the 65536"),
        "{}",
        bot.log_text()
    );
    let status = bot.stop_with(Signal::SIGTERM, WITHIN);
    assert!(status.success(), "{status}");
}

/// Mode, owner and group of a file.
fn mode_owner(path: &Path) -> (u32, u32, u32) {
    let m = std::fs::metadata(path).unwrap();
    (m.mode() & 0o7777, m.uid(), m.gid())
}

/// The bot started under `umask <mask>`, as its unit starts it; waits until it runs.
fn start_bot_with_umask(files: &BotFiles, mask: &str) -> Bot {
    let mut bot = Bot::spawn_after(files, &format!("umask {mask} && "), &[]);
    bot.wait_phase("running", WITHIN);
    bot
}

fn files_the_bot_writes_into_the_spool_get_the_modes_smsd_gives_its_own() {
    let mut rig = rig();
    let port = rig.port().to_path_buf();
    rig.start_smsd().unwrap();
    // The rig's smsd runs as root (no `user =`): its folders are root's, as on a system
    // where smsd runs as root; the files it writes are root's then.
    spool_owned_by(&rig, 0);
    let (incoming, outgoing, sent) = (
        spool_dir(&rig, "incoming"),
        spool_dir(&rig, "outgoing"),
        spool_dir(&rig, "sent"),
    );
    // smsd, the reference: one SMS in, one file out.
    rig.sim().unwrap().sms("+31641600986", "To smsd").unwrap();
    as_attacker(
        &outgoing,
        "printf 'To: 491721234567\\n\\nby smsd\\n' > .s && mv .s s",
    );
    let smsd_in = wait_for("smsd's incoming file", WITHIN, || {
        hil_tests::smsd::incoming_files(&incoming).first().cloned()
    })
    .unwrap();
    wait_for("smsd's sent file", WITHIN, || {
        sent.join("s").exists().then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}; smsd log:\n{}", rig.smsd().unwrap().log()));
    rig.smsd().unwrap().stop().unwrap();
    wait_until_port_free(&port, WITHIN).unwrap();

    // The bot, standing in for it, started with the umask of its systemd unit
    // (`UMask=0077`): the spool's files get smsd's mode all the same.
    let files = bot_files(&mut rig);
    let bot = start_bot_with_umask(&files, "077");
    rig.sim()
        .unwrap()
        .sms("+31641600986", "To the bot")
        .unwrap();
    as_attacker(
        &outgoing,
        "printf 'To: 491721234567\\n\\nby the bot\\n' > .b && mv .b b",
    );
    let bot_in = wait_for("the bot's incoming file", WITHIN, || {
        hil_tests::smsd::incoming_files(&incoming)
            .into_iter()
            .find(|p| p != &smsd_in)
    })
    .unwrap_or_else(|e| panic!("{e}; bot log:\n{}", bot.log_text()));
    wait_for("the bot's sent file", WITHIN, || {
        sent.join("b").exists().then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}; bot log:\n{}", bot.log_text()));
    let observed = [
        ("incoming", mode_owner(&smsd_in), mode_owner(&bot_in)),
        (
            "sent",
            mode_owner(&sent.join("s")),
            mode_owner(&sent.join("b")),
        ),
    ];
    eprintln!("(mode, uid, gid) smsd vs the bot: {observed:?}");
    for (what, by_smsd, by_bot) in observed {
        assert_eq!(by_bot, by_smsd, "{what}");
    }
    let status = bot.stop_with(Signal::SIGTERM, WITHIN);
    assert!(status.success(), "{status}");
}

fn a_root_only_file_moved_into_outgoing_is_not_sent_since_smsd_could_not_read_it() {
    let mut rig = rig();
    smsd_prepared_and_stopped(&mut rig);
    debian_spool(&rig);
    // A root-only report in a folder the attacker may write (not sticky): they can move
    // it, not read it.
    let drop = rig.dir().join("reports");
    std::fs::create_dir(&drop).unwrap();
    std::fs::set_permissions(&drop, std::fs::Permissions::from_mode(0o777)).unwrap();
    let report = drop.join("daily");
    std::fs::write(&report, format!("To: {ATTACKER}\n\n{SECRET}\n")).unwrap();
    std::fs::set_permissions(&report, std::fs::Permissions::from_mode(0o600)).unwrap();
    let outgoing = spool_dir(&rig, "outgoing");
    let files = bot_files(&mut rig);
    let bot = Bot::start(&files);
    as_attacker(&outgoing, &format!("mv '{}' x", report.display()));
    let seen = wait_for("the bot to judge x", WITHIN, || {
        let on_air = texts_on_air(&rig);
        let sent = on_air.iter().any(|(_, t)| t.contains(SECRET));
        (sent || bot.log_text().contains("outgoing/x is left alone")).then_some(on_air)
    })
    .unwrap_or_else(|e| panic!("{e}; bot log:\n{}", bot.log_text()));
    assert!(
        seen.iter().all(|(_, t)| !t.contains(SECRET)),
        "the root-only file went out: {seen:?}"
    );
    assert!(
        bot.log_text().contains("do not let the folder's owner"),
        "{}",
        bot.log_text()
    );
    assert!(
        files_containing(&rig.dir().join("smsd"), SECRET) == vec![outgoing.join("x")],
        "only where the attacker moved it"
    );
    let status = bot.stop_with(Signal::SIGTERM, WITHIN);
    assert!(status.success(), "{status}");
}
