//! A minimal SIM7600 gateway on a Cortex-M4F, built on modem-core: the same driver, digester
//! and call state machine as the Linux voice bot, with an embassy executor instead of
//! threads.
//!
//! What it does: probes the modem until it answers as a SIM7600, runs the voice init
//! sequence, texts the owner that the gateway is up, then answers incoming calls on the third
//! ring (the call machine decides, the driver sends `ATA`), hangs up calls that pass five
//! minutes, and texts the owner about every missed call.
//!
//! What the MCU provides, and where: a critical-section implementation (cortex-m's
//! `critical-section-single-core`), an embassy-time driver ([`time_driver`], SysTick at
//! 1 kHz with embassy-executor's timer queue) and a UART with `embedded-io-async` halves
//! ([`uart`]). There is no `#[global_allocator]`: the firmware links, so nothing in it uses
//! `alloc`; the target has no `std`.
#![no_std]
#![no_main]

mod time_driver;
mod uart;

use core::fmt::Write as _;
use core::sync::atomic::{AtomicU32, Ordering};

use atat::AtatIngress;
use embassy_executor::Spawner;
use embassy_futures::select::{Either, select};
use embassy_time::{Duration, Instant, Timer};
use heapless::String;
use modem_core::call::{CallAction, CallEvent, CallMachine, Caller};
use modem_core::config::{AnswerMode, SmsIndication, VoiceConfig};
use modem_core::driver::{ModemIngress, Parts, Resources};
use panic_halt as _;
use static_cell::StaticCell;

/// Core and UART clock of the MPS2 AN386.
const CLOCK_HZ: u32 = 25_000_000;
/// The SIM7600's UART speed.
const BAUD: u32 = 115_200;
/// Who gets the gateway's texts.
const OWNER: &str = "+491721234567";
/// How long to wait before probing or initialising again after a failure.
const RETRY: Duration = Duration::from_secs(5);

/// Calls answered and missed since start, for a debugger to read.
static ANSWERED: AtomicU32 = AtomicU32::new(0);
static MISSED: AtomicU32 = AtomicU32::new(0);

static RESOURCES: StaticCell<Resources> = StaticCell::new();

/// Feeds every byte from the modem into atat's ingress; sleeps while the UART is quiet.
#[embassy_executor::task]
async fn ingress_task(mut ingress: ModemIngress<'static>, rx: uart::UartRx) -> ! {
    ingress.read_from(rx).await
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let Some(core) = cortex_m::Peripherals::take() else {
        panic!("core peripherals taken twice");
    };
    time_driver::start(core.SYST, CLOCK_HZ);
    let (tx, rx) = uart::init(CLOCK_HZ, BAUD);

    let resources = RESOURCES.init(Resources::new());
    let Parts {
        ingress,
        mut modem,
        urcs,
    } = resources.split(tx, atat::Config::new());
    // Subscribe before any byte flows: URCs with no subscriber are dropped.
    let Ok(mut call_urcs) = urcs.subscribe() else {
        panic!("the URC channel has no free subscriber slot");
    };
    if spawner.spawn(ingress_task(ingress, rx)).is_err() {
        panic!("the ingress task could not be spawned");
    }

    let config = match VoiceConfig::new(3, 5).and_then(|c| c.with_max_call_duration_s(Some(300))) {
        Ok(config) => config.with_answer_mode(AnswerMode::Host),
        Err(_) => panic!("the built-in voice config is out of range"),
    };

    loop {
        match modem.probe().await {
            Ok(identity) if identity.is_sim7600 => break,
            _ => Timer::after(RETRY).await,
        }
    }
    // The bot's init: the voice sequence, numeric errors, call list reports and SMS stored
    // and announced with +CMTI (this gateway takes no status reports).
    while modem
        .init(&config, SmsIndication::StoreAndNotify)
        .await
        .is_err()
    {
        Timer::after(RETRY).await;
    }
    // Best effort: a gateway without credit still answers calls.
    let _ = modem.send_sms_text(OWNER, "SIM7600 gateway up").await;

    let mut calls = CallMachine::new(&config);
    loop {
        let urc = match calls.poll_timeout() {
            Some(deadline) => {
                let wake = Timer::at(Instant::from_millis(deadline));
                match select(call_urcs.next_message_pure(), wake).await {
                    Either::First(urc) => Some(urc),
                    Either::Second(()) => None,
                }
            }
            None => Some(call_urcs.next_message_pure().await),
        };
        let now = Instant::now().as_millis();
        match urc {
            Some(urc) => calls.handle_urc(now, &urc),
            None => calls.handle_timeout(now),
        }
        while let Some(action) = calls.poll_action() {
            match action {
                CallAction::Answer => {
                    let result = modem.answer().await;
                    let now = Instant::now().as_millis();
                    match result {
                        Ok(()) => calls.answer_succeeded(now),
                        Err(_) => calls.answer_failed(now),
                    }
                }
                CallAction::HangUp => {
                    // The machine ends the call itself if the end URCs never come.
                    let _ = modem.hang_up().await;
                }
                // This gateway never calls `dial`.
                CallAction::Dial => {}
            }
        }
        while let Some(event) = calls.poll_event() {
            match event {
                CallEvent::Answered { .. } => {
                    ANSWERED.fetch_add(1, Ordering::Relaxed);
                }
                CallEvent::Missed { caller, .. } => {
                    MISSED.fetch_add(1, Ordering::Relaxed);
                    let _ = modem.send_sms_text(OWNER, &missed_call_text(&caller)).await;
                }
                _ => {}
            }
        }
    }
}

/// "Missed call from +4930123456" (or withheld/unknown).
fn missed_call_text(caller: &Caller) -> String<64> {
    let mut text = String::new();
    // Cannot overflow: the longest number is 32 bytes and the words are fewer than 32.
    let _ = match caller {
        Caller::Number(number) => write!(text, "Missed call from {number}"),
        Caller::Withheld => write!(text, "Missed call, number withheld"),
        Caller::Unavailable | Caller::Unknown => write!(text, "Missed call, number unknown"),
    };
    text
}
