//! The embassy-time driver of this firmware: a 1 kHz SysTick tick and embassy-executor's
//! integrated timer queue.
//!
//! embassy-time needs two things from the platform: a monotonic tick count (`now`) and a way
//! to wake a task at a given tick (`schedule_wake`). A real product would use a low-power
//! RTC with a compare alarm; a SysTick interrupt every millisecond is the smallest driver
//! that works on every Cortex-M, which is all this example needs to show. Between ticks the
//! executor sleeps (WFE): nothing here polls.

use core::cell::{Cell, RefCell};
use core::task::Waker;

use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;
use critical_section::Mutex;
use embassy_time_driver::Driver;
use embassy_time_queue_utils::Queue;

/// SysTick frequency; must match the `tick-hz-1_000` feature of embassy-time.
const TICK_HZ: u32 = 1_000;

struct SysTickDriver {
    /// Milliseconds since `start`; 64 bits so it never wraps (thumbv7em has no AtomicU64).
    ticks: Mutex<Cell<u64>>,
    /// The tasks waiting for a moment: embassy-executor's timer queue items.
    queue: Mutex<RefCell<Queue>>,
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    ticks: Mutex::new(Cell::new(0)),
    queue: Mutex::new(RefCell::new(Queue::new())),
});

impl Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.ticks.borrow(cs).get())
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            // The next SysTick looks at the queue anyway, so whether the earliest deadline
            // changed does not matter here.
            let _ = self.queue.borrow(cs).borrow_mut().schedule_wake(at, waker);
        });
    }
}

/// Starts the tick: one SysTick interrupt per millisecond at `core_clock_hz`.
pub fn start(mut syst: SYST, core_clock_hz: u32) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(core_clock_hz / TICK_HZ - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

#[exception]
fn SysTick() {
    critical_section::with(|cs| {
        let ticks = DRIVER.ticks.borrow(cs);
        let now = ticks.get() + 1;
        ticks.set(now);
        // Wakes every task whose moment has come; the returned next deadline is not needed
        // because the next tick checks again.
        let _ = DRIVER.queue.borrow(cs).borrow_mut().next_expiration(now);
    });
}
