//! Running the external programs of a handoff backend (`systemctl`, `service`, the rig's
//! scripts): always as a process with an argument vector, never through a shell, always
//! with a bounded wait, with the program's output kept for the error message, and
//! always with a clean signal mask ([`crate::platform::signals::clean_child`]): an smsd started by a
//! start script must stop on the SIGTERM of the next stop.
//!
//! The output goes to an anonymous temporary file rather than a pipe: a start script that
//! leaves a daemon behind (smsd forks) would keep a pipe open, and reading it would hang
//! until the daemon exits.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::HandoffError;

/// The most output of a failed command quoted in its error message, in bytes.
pub const MAX_QUOTED_OUTPUT: usize = 400;

/// A program that ran to its end.
#[derive(Debug)]
pub struct Finished {
    /// How it ended.
    pub status: ExitStatus,
    /// Its stdout and stderr, interleaved, at most [`MAX_QUOTED_OUTPUT`] bytes (the tail).
    pub output: String,
}

/// `argv` joined for a person to read (and paste into a shell).
pub fn show_argv(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `argv` and waits at most `timeout` for it; a program still running then is
/// killed and the timeout is the error.
pub fn run(argv: &[String], timeout: Duration) -> Result<Finished, HandoffError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(HandoffError::EmptyCommand);
    };
    let spawn_err = |source| HandoffError::Spawn {
        argv: show_argv(argv),
        source,
    };
    let mut log = tempfile::tempfile().map_err(spawn_err)?;
    let out = log.try_clone().map_err(spawn_err)?;
    let err = log.try_clone().map_err(spawn_err)?;
    let mut child = crate::platform::signals::clean_child(&mut Command::new(program))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .map_err(spawn_err)?;
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    // Child::wait blocks without a timeout; a helper thread turns it into a channel
    // message that recv_timeout can bound without polling.
    let waiter = thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = match rx.recv_timeout(timeout) {
        Ok(Ok(status)) => status,
        Ok(Err(source)) => {
            let _ = waiter.join();
            return Err(HandoffError::Spawn {
                argv: show_argv(argv),
                source,
            });
        }
        Err(_) => {
            if let Ok(raw) = i32::try_from(pid) {
                let _ = kill(Pid::from_raw(raw), Signal::SIGKILL);
            }
            let _ = waiter.join();
            return Err(HandoffError::CommandTimeout {
                argv: show_argv(argv),
                after: timeout,
            });
        }
    };
    let _ = waiter.join();
    Ok(Finished {
        status,
        output: read_tail(&mut log),
    })
}

/// Runs `argv` and requires exit status 0.
pub fn run_ok(argv: &[String], timeout: Duration) -> Result<Finished, HandoffError> {
    let finished = run(argv, timeout)?;
    if finished.status.success() {
        Ok(finished)
    } else {
        Err(HandoffError::CommandFailed {
            argv: show_argv(argv),
            status: finished.status.to_string(),
            output: finished.output,
        })
    }
}

fn read_tail(log: &mut File) -> String {
    let mut bytes = Vec::new();
    if log.seek(SeekFrom::Start(0)).is_err() || log.read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    let start = bytes.len().saturating_sub(MAX_QUOTED_OUTPUT);
    let tail = bytes.get(start..).unwrap_or_default();
    String::from_utf8_lossy(tail).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_succeeding_program_gives_its_output() {
        let f = run_ok(
            &argv(&["sh", "-c", "echo hello; echo oops >&2"]),
            Duration::from_secs(5),
        )
        .unwrap();
        assert!(
            f.output.contains("hello") && f.output.contains("oops"),
            "{}",
            f.output
        );
    }

    #[test]
    fn a_failing_program_is_named_with_its_status_and_output() {
        let err = run_ok(
            &argv(&["sh", "-c", "echo unit not found >&2; exit 4"]),
            Duration::from_secs(5),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("sh -c"), "{text}");
        assert!(text.contains("exit status: 4"), "{text}");
        assert!(text.contains("unit not found"), "{text}");
    }

    #[test]
    fn a_hanging_program_is_killed_at_the_timeout() {
        let started = std::time::Instant::now();
        let err = run(&argv(&["sleep", "30"]), Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, HandoffError::CommandTimeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_daemon_left_behind_does_not_hold_up_the_wait() {
        let started = std::time::Instant::now();
        run_ok(
            &argv(&["sh", "-c", "sleep 5 & echo started"]),
            Duration::from_secs(3),
        )
        .unwrap();
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn a_missing_program_is_a_spawn_error_naming_it() {
        let err = run(
            &argv(&["/no/such/systemctl", "stop"]),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(err.to_string().contains("/no/such/systemctl"), "{err}");
    }

    #[test]
    fn a_start_script_runs_with_no_signal_blocked() {
        // This thread blocks what the program's threads block.
        let mut set = nix::sys::signal::SigSet::empty();
        set.add(Signal::SIGTERM);
        set.add(Signal::SIGINT);
        std::thread::spawn(move || {
            nix::sys::signal::pthread_sigmask(
                nix::sys::signal::SigmaskHow::SIG_BLOCK,
                Some(&set),
                None,
            )
            .unwrap();
            let f = run_ok(
                &argv(&["sh", "-c", "exec grep SigBlk /proc/self/status"]),
                Duration::from_secs(5),
            )
            .unwrap();
            assert_eq!(f.output, "SigBlk:\t0000000000000000");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn arguments_are_quoted_for_display_only_when_needed() {
        assert_eq!(
            show_argv(&argv(&["systemctl", "stop", "smstools"])),
            "systemctl stop smstools"
        );
        assert_eq!(show_argv(&argv(&["echo", "a b", ""])), "echo 'a b' ''");
    }
}
