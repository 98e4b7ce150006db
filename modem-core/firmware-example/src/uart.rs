//! The modem's UART: an interrupt-driven `embedded-io-async` port on the ARM CMSDK APB UART
//! (UART0 of the MPS2 AN385/AN386 boards, which QEMU also emulates as `mps2-an386`).
//!
//! The receive interrupt moves each byte into a pipe that [`UartRx`] reads from, so atat's
//! ingress task sleeps until bytes arrive; [`UartTx`] writes while the transmit buffer has
//! room and otherwise sleeps until the transmit interrupt says it has emptied. Nothing spins.
//! Bytes that arrive while the pipe is full are dropped and counted: atat's digester
//! resynchronises on the next line end, and the command that lost its reply times out.

use core::future::poll_fn;
use core::sync::atomic::{AtomicU32, Ordering};
use core::task::Poll;

use cortex_m::interrupt::InterruptNumber;
use cortex_m::peripheral::NVIC;
use cortex_m_rt::exception;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::pipe::Pipe;
use embassy_sync::waitqueue::AtomicWaker;

/// UART0 base address on MPS2 AN385/AN386.
const UART0_BASE: usize = 0x4000_4000;
const DATA: usize = 0x000;
const STATE: usize = 0x004;
const CTRL: usize = 0x008;
const INTSTATUS: usize = 0x00C;
const BAUDDIV: usize = 0x010;

const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;
const CTRL_TX_INT_EN: u32 = 1 << 2;
const CTRL_RX_INT_EN: u32 = 1 << 3;
const INT_TX: u32 = 1 << 0;
const INT_RX: u32 = 1 << 1;

/// UART0's interrupt lines on MPS2 AN385/AN386.
const IRQ_UART0_RX: u16 = 0;
const IRQ_UART0_TX: u16 = 1;

/// Bytes buffered between the receive interrupt and the ingress task: more than one
/// SIM7600 line at 115200 baud (11.5 bytes per ms) while the ingress task is busy.
pub const RX_PIPE_LEN: usize = 256;

static RX_PIPE: Pipe<CriticalSectionRawMutex, RX_PIPE_LEN> = Pipe::new();
static TX_WAKER: AtomicWaker = AtomicWaker::new();
/// Bytes dropped because the receive pipe was full, for a debugger to read.
static RX_OVERRUNS: AtomicU32 = AtomicU32::new(0);

#[derive(Clone, Copy)]
struct Irq(u16);

// SAFETY: the numbers are UART0's interrupt lines on this board (see the constants above).
unsafe impl InterruptNumber for Irq {
    fn number(self) -> u16 {
        self.0
    }
}

fn read_reg(offset: usize) -> u32 {
    // SAFETY: UART0_BASE + offset is one of UART0's word-aligned registers on this board.
    unsafe { core::ptr::read_volatile((UART0_BASE + offset) as *const u32) }
}

fn write_reg(offset: usize, value: u32) {
    // SAFETY: UART0_BASE + offset is one of UART0's word-aligned registers on this board.
    unsafe { core::ptr::write_volatile((UART0_BASE + offset) as *mut u32, value) }
}

/// The UART cannot fail: bytes lost on overrun are counted in `RX_OVERRUNS`, not reported.
pub type UartError = core::convert::Infallible;

/// The receiving half: what atat's ingress reads.
pub struct UartRx(());

/// The sending half: what atat's client writes.
pub struct UartTx(());

/// Sets UART0 to `baud` at `uart_clock_hz`, enables both interrupts and returns the halves.
/// Call once.
pub fn init(uart_clock_hz: u32, baud: u32) -> (UartTx, UartRx) {
    write_reg(BAUDDIV, uart_clock_hz / baud);
    write_reg(
        CTRL,
        CTRL_TX_EN | CTRL_RX_EN | CTRL_TX_INT_EN | CTRL_RX_INT_EN,
    );
    // SAFETY: the handlers for these lines (DefaultHandler below) touch only the pipe,
    // the waker and UART0's registers, which are safe to share with the tasks.
    unsafe {
        NVIC::unmask(Irq(IRQ_UART0_RX));
        NVIC::unmask(Irq(IRQ_UART0_TX));
    }
    (UartTx(()), UartRx(()))
}

impl embedded_io::ErrorType for UartRx {
    type Error = UartError;
}

impl embedded_io_async::Read for UartRx {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, UartError> {
        Ok(RX_PIPE.read(buf).await)
    }
}

impl embedded_io::ErrorType for UartTx {
    type Error = UartError;
}

impl embedded_io_async::Write for UartTx {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, UartError> {
        let Some(&first) = buf.first() else {
            return Ok(0);
        };
        poll_fn(|cx| {
            if read_reg(STATE) & STATE_TX_FULL == 0 {
                return Poll::Ready(());
            }
            TX_WAKER.register(cx.waker());
            // Checked again after registering, so an interrupt in between is not lost.
            if read_reg(STATE) & STATE_TX_FULL == 0 {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        write_reg(DATA, u32::from(first));
        Ok(1)
    }

    async fn flush(&mut self) -> Result<(), UartError> {
        // The CMSDK UART has a one-byte buffer: once the byte left it, it is on the wire
        // within one character time, which is all atat's flush needs.
        poll_fn(|cx| {
            if read_reg(STATE) & STATE_TX_FULL == 0 {
                return Poll::Ready(());
            }
            TX_WAKER.register(cx.waker());
            if read_reg(STATE) & STATE_TX_FULL == 0 {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        Ok(())
    }
}

/// Without a device crate, cortex-m-rt routes every interrupt here with its number.
#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    match u16::try_from(irqn) {
        Ok(IRQ_UART0_RX) => {
            while read_reg(STATE) & STATE_RX_FULL != 0 {
                let byte = (read_reg(DATA) & 0xFF) as u8;
                if RX_PIPE.try_write(&[byte]).is_err() {
                    RX_OVERRUNS.fetch_add(1, Ordering::Relaxed);
                }
            }
            write_reg(INTSTATUS, INT_RX);
        }
        Ok(IRQ_UART0_TX) => {
            write_reg(INTSTATUS, INT_TX);
            TX_WAKER.wake();
        }
        _ => {}
    }
}
