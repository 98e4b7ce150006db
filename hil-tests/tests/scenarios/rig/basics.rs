//! The rig without smsd: the simulated port, steering steps, real-hardware skips, and the
//! path of the sim7600 binary.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use hil_tests::wait::{holders_of, wait_for, wait_until_port_held};
use hil_tests::{Rig, SimConfig, Step, sim7600_bin};

#[test]
fn a_simulated_rig_links_the_port_in_its_folder_and_records_a_transcript() {
    let rig = Rig::simulated(SimConfig::default()).unwrap();
    assert!(!rig.is_real());
    assert!(rig.port().starts_with(rig.dir()));
    let mut port = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::fcntl::OFlag::O_NOCTTY.bits())
        .open(rig.port())
        .unwrap();
    let mut t = nix::sys::termios::tcgetattr(&port).unwrap();
    nix::sys::termios::cfmakeraw(&mut t);
    nix::sys::termios::tcsetattr(&port, nix::sys::termios::SetArg::TCSANOW, &t).unwrap();
    port.write_all(b"AT+CGMM\r").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&got).contains("OK\r\n") {
        let n = port.read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&got).contains("SIMCOM_SIM7600G-H"));
    let transcript = rig.transcript().unwrap();
    wait_for(
        "the transcript to show the command",
        Duration::from_secs(5),
        || {
            std::fs::read_to_string(&transcript)
                .ok()
                .filter(|t| t.contains("host> AT+CGMM\\r"))
        },
    )
    .unwrap();
}

// Each of these runs twice: on the simulator's own way and on a real SIM7600's.
hil_tests::on_both_profiles!(
    the_simulated_modem_is_steered_through_the_rig_and_its_control_socket_exists,
);

fn the_simulated_modem_is_steered_through_the_rig_and_its_control_socket_exists() {
    let rig = Rig::simulated(SimConfig::default()).unwrap();
    assert_eq!(
        rig.modem()
            .call("+491761234567", false, Some(Duration::from_secs(5)))
            .unwrap(),
        Step::Done
    );
    assert_eq!(rig.modem().state().unwrap().modem.calls.len(), 1);
    assert_eq!(rig.modem().hangup().unwrap(), Step::Done);
    assert!(rig.modem().hangup().is_err(), "nobody left to hang up");
    assert!(rig.control_socket().unwrap().exists());
}

#[test]
fn on_real_hardware_steps_that_need_a_person_are_announced_and_skipped() {
    let rig = Rig::real("/dev/ttyUSB2-not-opened-by-this-test".into()).unwrap();
    assert!(rig.is_real());
    let step = rig.modem().call("+491761234567", false, None).unwrap();
    match step {
        Step::Skipped(reason) => assert!(
            reason.contains("call the modem from +491761234567"),
            "{reason}"
        ),
        Step::Done => panic!("a real modem cannot be called by the rig"),
    }
    assert!(rig.modem().sms("+49", "hi").unwrap().is_skipped());
    assert!(rig.modem().unplug().unwrap().is_skipped());
    let e = rig.modem().state().unwrap_err().to_string();
    assert!(e.contains("needs the simulator"), "{e}");
    assert!(rig.sim().is_err());
}

#[test]
fn waiting_for_a_holder_sees_a_process_that_opens_the_port() {
    let rig = Rig::simulated(SimConfig::default()).unwrap();
    assert!(
        holders_of(rig.port()).is_empty(),
        "the simulator itself holds nothing"
    );
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("exec 3<>\"$0\"; exec sleep 30")
        .arg(rig.port())
        .spawn()
        .unwrap();
    let holders = wait_until_port_held(rig.port(), Duration::from_secs(5)).unwrap();
    assert_eq!(holders, vec![child.id() as i32]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(holders_of(rig.port()).is_empty());
}

#[test]
fn the_sim7600_binary_is_found_or_the_error_says_how_it_was_built() {
    match sim7600_bin() {
        Ok(path) => {
            assert!(path.is_file(), "{}", path.display());
            assert!(path.ends_with("sim7600"));
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains("the sim7600 binary is not available at"),
                "{msg}"
            );
            assert!(
                msg.contains("cargo build -p host-linux --bin sim7600"),
                "{msg}"
            );
        }
    }
}
