//! `sim7600-demo`, the README's run command, exits 0 on a clean checkout and tells each
//! phase: the real smsd (installed in CI) holding the port, the bot taking it, the call
//! answered on ring N, the SMS through the API, the port back with smsd.

use std::process::Command;

fn demo(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(hil_tests::demo_bin().unwrap())
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!(
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), stdout)
}

#[test]
fn the_demo_with_the_real_smsd_exits_0_after_every_phase() {
    // The rig never skips for a missing smsd: this panics with the install hint.
    hil_tests::smsd::smsd_path();
    let (code, out) = demo(&[]);
    assert_eq!(code, Some(0));
    for phase in [
        "smstools: real ",
        "port owner: smsd",
        "voice bot: port owner: the voice bot",
        "smsd stopped",
        "call: ring 1 from +491761234567",
        "call: answered by the modem on ring 3 (answer_after_rings = 3)",
        "call: the caller hung up",
        "SMS in: +31641600986 texts",
        "SMS in: the bot wrote it to ",
        "SMS: POST /sms -> 202",
        "SMS: sent in PDU mode (UCS2",
        "voice bot: stopped, port given back",
        "demo done in",
    ] {
        assert!(out.contains(phase), "no {phase:?} in:\n{out}");
    }
    let back = out.lines().find(|l| l.contains("port given back")).unwrap();
    assert!(
        back.contains("smsd running") && back.contains("port owner: smsd"),
        "{back}"
    );
    // Every line carries its time since the start.
    assert!(
        out.lines()
            .all(|l| l.starts_with('[') && l.contains(" ms] ")),
        "{out}"
    );
}

#[test]
fn the_demo_says_plainly_when_the_smstools_side_is_simulated() {
    let (code, out) = demo(&["--simulated-smstools", "--rings", "2"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("the smstools side is SIMULATED"), "{out}");
    assert!(out.contains("answered by the modem on ring 2"), "{out}");
    assert!(out.contains("simulated smstools running"), "{out}");
    assert!(
        out.contains("SMS in: smstools is simulated, so there is no smsd spool"),
        "{out}"
    );
}
