//! Where log lines go and how they look.
//!
//! This module owns the logger's set-up. Under systemd (the journal is the process's
//! stderr, which systemd says through `JOURNAL_STREAM`), each line starts with its syslog
//! priority (`<3>` error, `<4>` warning, `<6>` info, `<7>` debug and trace), which journald
//! turns into the entry's priority, and carries no timestamp of its own (the journal
//! stamps every entry): `journalctl -p err -u sim7600-voice-bot` then shows the errors.
//! Anywhere else the lines keep the terminal's format: a timestamp, the level, the text.

use std::io::Write;
use std::os::unix::fs::MetadataExt;

/// The syslog priority (sd-daemon(3)'s `SD_ERR` ... `SD_DEBUG`) for a log level.
pub fn syslog_priority(level: log::Level) -> u8 {
    match level {
        log::Level::Error => 3,
        log::Level::Warn => 4,
        log::Level::Info => 6,
        log::Level::Debug | log::Level::Trace => 7,
    }
}

/// Whether `journal_stream` (the value of `JOURNAL_STREAM`, `<device>:<inode>`) names the
/// file behind stderr, whose device and inode are given. systemd documents this check: the
/// variable alone may have been inherited by a process whose stderr was redirected since.
pub fn is_journal_stream(journal_stream: &str, stderr_dev: u64, stderr_ino: u64) -> bool {
    let Some((dev, ino)) = journal_stream.split_once(':') else {
        return false;
    };
    matches!((dev.parse::<u64>(), ino.parse::<u64>()), (Ok(d), Ok(i)) if d == stderr_dev && i == stderr_ino)
}

/// Whether this process's stderr is connected to the journal.
fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some(value) = value.to_str() else {
        return false;
    };
    match std::fs::metadata("/proc/self/fd/2") {
        Ok(meta) => is_journal_stream(value, meta.dev(), meta.ino()),
        Err(_) => false,
    }
}

/// Sets up the logger: `RUST_LOG` if set, else `default_level`; journal format under
/// systemd, the terminal format elsewhere.
pub fn init(default_level: &str) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level));
    if stderr_is_journal() {
        builder.format(|buf, record| {
            writeln!(
                buf,
                "<{}>{}",
                syslog_priority(record.level()),
                record.args()
            )
        });
    } else {
        builder.format_timestamp_millis();
    }
    builder.init();
}

/// Reports the error that ends the program: through the logger when it shows errors, on
/// stderr directly when it does not (`RUST_LOG=off`), so a fatal error is never silent.
pub fn fatal(message: &dyn std::fmt::Display) {
    if log::log_enabled!(log::Level::Error) {
        log::error!("{message}");
    } else {
        eprintln!("sim7600: {message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_to_the_syslog_priorities_journald_reads() {
        assert_eq!(syslog_priority(log::Level::Error), 3);
        assert_eq!(syslog_priority(log::Level::Warn), 4);
        assert_eq!(syslog_priority(log::Level::Info), 6);
        assert_eq!(syslog_priority(log::Level::Debug), 7);
        assert_eq!(syslog_priority(log::Level::Trace), 7);
    }

    #[test]
    fn the_journal_stream_must_name_stderr_itself() {
        assert!(is_journal_stream("8:1234", 8, 1234));
        assert!(!is_journal_stream("8:1234", 8, 1235), "another inode");
        assert!(!is_journal_stream("9:1234", 8, 1234), "another device");
        assert!(!is_journal_stream("garbage", 8, 1234));
        assert!(!is_journal_stream("8:", 8, 1234));
    }
}
