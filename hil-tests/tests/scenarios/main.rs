//! The rig's scenarios, one test binary: a module per room of the program, each running
//! the real `sim7600` (target/debug/sim7600: `cargo build -p host-linux --bin sim7600`
//! first) against the simulated SIM7600, the real smsd and the other real programs a
//! scenario names. What they share is in [`support`]. Run one room with
//! `cargo test -p hil-tests --test scenarios api::`, one scenario by its name.
//!
//! Every scenario with a call or an SMS runs twice (`hil_tests::on_both_profiles!`): as
//! `<name>::simulator` and as `<name>::real_modem`, the simulator speaking the way real
//! SIM7600s were seen to speak.
#![allow(clippy::unwrap_used)]

mod support;

mod agent {
    mod python;
    mod stream;
}
mod api {
    mod attacks;
    mod bad_input;
    mod metrics;
    mod send;
    mod sms_kill9;
    mod status_calls;
    mod token;
}
mod audio {
    mod api;
    mod bot;
    mod call;
}
mod bot {
    mod calls;
    mod fault_matrix;
    mod late_modem;
    mod life;
    mod outbound;
    mod queue_kill9;
    mod recovery;
    mod reload;
    mod sigterm;
    mod systemd;
    mod sysv_handoffs;
}
mod cli {
    mod decode;
    mod demo;
}
mod events {
    mod call;
    mod menu_audio;
}
mod fleet {
    mod supervisor;
    mod two_modems;
}
mod handoff {
    mod detect;
    mod lease;
    mod restore;
    mod signals;
    mod suspend;
    mod systemctl;
}
mod mqtt;
mod rig {
    mod basics;
    mod smsd;
}
mod spool {
    mod attacks;
    mod bot;
    mod bridge_handoff;
    mod eventhandler;
    mod kill9;
    mod smsd_formats;
}
mod status {
    mod states;
    mod unknown;
}
