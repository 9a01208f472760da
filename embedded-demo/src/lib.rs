//! Board support shared by the demo binaries: instruction counting with SysTick, semihosting
//! output and exit codes, a fault handler that reports, and stack measurement.
#![no_std]

use cortex_m::peripheral::{syst::SystClkSource, SYST};
use cortex_m_semihosting::debug;
pub use cortex_m_semihosting::hprintln;

/// Guest instructions per SysTick tick on mps2-an386 under `-icount shift=0`
/// (25 MHz SysTick, 1 ns per instruction).
pub const INSTRUCTIONS_PER_TICK: u64 = 40;

/// Runs of the dense-layer measurement whose mean the demos print: SysTick advances in ticks
/// of 40 instructions, so one run of two layers reads up to 80 off; the mean of 16 is within
/// 5 of the exact count (scripts/m4-cycles counts every instruction and divides likewise).
pub const DENSE_RUNS: u64 = 16;

/// A free-running 24-bit SysTick used as an instruction counter.
pub struct Counter {
    syst: SYST,
}

impl Counter {
    /// Starts SysTick from its maximum reload value, counting core clocks.
    pub fn new(mut syst: SYST) -> Counter {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(0x00FF_FFFF);
        syst.clear_current();
        syst.enable_counter();
        Counter { syst }
    }

    /// The current tick value (counts down, wraps at 2^24).
    pub fn now(&self) -> u32 {
        let _ = &self.syst;
        SYST::get_current()
    }

    /// Instructions elapsed since `start` (a value of [`Counter::now`]); correct for spans
    /// shorter than 2^24 ticks (671 M instructions).
    pub fn since(&self, start: u32) -> u64 {
        let end = self.now();
        (start.wrapping_sub(end) & 0x00FF_FFFF) as u64 * INSTRUCTIONS_PER_TICK
    }
}

/// Ends the emulation with success or failure as QEMU's exit code.
pub fn exit(ok: bool) -> ! {
    debug::exit(if ok { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    #[allow(clippy::empty_loop)]
    loop {}
}

/// FNV-1a over the bit patterns of `values`, chained from `h` (start with [`FNV_START`]).
pub fn fnv1a(mut h: u32, values: &[f32]) -> u32 {
    for v in values {
        for b in v.to_bits().to_le_bytes() {
            h ^= b as u32;
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
}

/// FNV-1a offset basis.
pub const FNV_START: u32 = 0x811C_9DC5;

const PAINT: u32 = 0xDEAD_BEEF;

extern "C" {
    static mut __sheap: u32;
}

/// Fills the unused stack (from the end of .bss up to just below the current stack pointer)
/// with a pattern; [`stack_used`] later finds how deep the stack reached.
pub fn paint_stack() {
    let sp = cortex_m::register::msp::read() as usize;
    // SAFETY: __sheap is the linker's end of statically allocated RAM; the words between it
    // and 256 bytes below the live stack pointer belong to no one yet.
    unsafe {
        let mut p = core::ptr::addr_of_mut!(__sheap) as usize;
        while p + 256 < sp {
            core::ptr::write_volatile(p as *mut u32, PAINT);
            p += 4;
        }
    }
}

/// Bytes of stack used since [`paint_stack`]: from the top of RAM down to the deepest word
/// that no longer holds the pattern.
pub fn stack_used(ram_end: usize) -> usize {
    // SAFETY: reads words between the end of .bss and the top of RAM, all valid memory.
    unsafe {
        let mut p = core::ptr::addr_of_mut!(__sheap) as usize;
        while p < ram_end && core::ptr::read_volatile(p as *const u32) == PAINT {
            p += 4;
        }
        ram_end - p
    }
}

/// External interrupts of the mps2-an385 and mps2-an386 NVIC (AN385/AN386; QEMU's
/// `num-irq` for both boards).
pub const INTERRUPTS: usize = 32;

extern "C" {
    fn DefaultHandler();
}

/// The device part of the vector table (cortex-m-rt's `device` feature): the boards' 32
/// interrupts, each on the default handler, as a device crate would give them. Without the
/// feature cortex-m-rt reserves the architecture's 240 (960 bytes of flash).
#[link_section = ".vector_table.interrupts"]
#[no_mangle]
#[used]
pub static __INTERRUPTS: [unsafe extern "C" fn(); INTERRUPTS] = [DefaultHandler; INTERRUPTS];

/// Top of RAM on mps2-an386 (initial stack pointer).
pub const RAM_END: usize = 0x2040_0000;

/// 10^19 down to 10^0: the digit places of a `u64`.
const POWERS_OF_TEN: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 19;
    while i > 0 {
        t[i - 1] = t[i] * 10;
        i -= 1;
    }
    t
};

/// One line of output built from text and numbers, written to the host in one semihosting
/// call: what the small firmwares print with, without `core::fmt` (its formatting machinery
/// and 64-bit division are most of a small firmware's flash otherwise).
pub struct Line {
    buf: [u8; 120],
    len: usize,
}

impl Line {
    /// An empty line.
    pub fn new() -> Line {
        Line { buf: [0; 120], len: 0 }
    }

    /// Appends text (cut at the line's capacity).
    pub fn str(&mut self, s: &str) -> &mut Line {
        for &b in s.as_bytes() {
            self.push(b);
        }
        self
    }

    /// Appends `v` in decimal. Digits come from subtracting powers of ten, so no 64-bit
    /// division routine is linked.
    pub fn dec(&mut self, mut v: u64) -> &mut Line {
        let mut started = false;
        for &p in POWERS_OF_TEN.iter() {
            let mut d = 0u8;
            while v >= p {
                v -= p;
                d += 1;
            }
            if d > 0 || started || p == 1 {
                self.push(b'0' + d);
                started = true;
            }
        }
        self
    }

    /// Appends `0x` and the eight hex digits of `v`.
    pub fn hex(&mut self, v: u32) -> &mut Line {
        self.str("0x");
        for i in (0..8).rev() {
            let d = (v >> (4 * i)) as u8 & 0xF;
            self.push(if d < 10 { b'0' + d } else { b'a' + d - 10 });
        }
        self
    }

    /// Writes the line and a newline to the host's standard output.
    pub fn print(&mut self) {
        self.push(b'\n');
        if let Ok(mut out) = cortex_m_semihosting::hio::hstdout() {
            let _ = out.write_all(self.buf.get(..self.len).unwrap_or(&[]));
        }
    }

    fn push(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }
}

impl Default for Line {
    fn default() -> Line {
        Line::new()
    }
}

/// What the two sine firmwares share: the reference they compare with and their report.
pub mod sine {
    use super::{exit, Line};

    /// sin(x) by a short Taylor series after range reduction to [-pi, pi]: the reference the
    /// network is compared against, without pulling a math library into the footprint.
    pub fn reference(x: f32) -> f32 {
        let pi = core::f32::consts::PI;
        let r = if x > pi { x - 2.0 * pi } else { x };
        let r2 = r * r;
        r * (1.0
            - r2 / 6.0
                * (1.0 - r2 / 20.0 * (1.0 - r2 / 42.0 * (1.0 - r2 / 72.0 * (1.0 - r2 / 110.0 * (1.0 - r2 / 156.0))))))
    }

    /// Prints the largest error over `points` inputs, instructions per inference, the stack
    /// used and PASS or FAIL, then exits with `ok`.
    pub fn report(name: &str, worst: f32, points: usize, instructions: u64, stack: usize, ok: bool) -> ! {
        Line::new()
            .str(name)
            .str(": max |error| ")
            .dec((worst * 1e6) as u64)
            .str(" x1e-6 over ")
            .dec(points as u64)
            .str(" points")
            .print();
        Line::new().str("instructions per inference ").dec(instructions / points as u64).print();
        Line::new().str("stack used ").dec(stack as u64).str(" bytes").print();
        Line::new().str(if ok { "PASS" } else { "FAIL" }).print();
        exit(ok)
    }
}

/// Installs the panic and HardFault handlers: both print what happened and exit non-zero.
#[macro_export]
macro_rules! handlers {
    () => {
        #[panic_handler]
        fn panic(info: &core::panic::PanicInfo) -> ! {
            match info.location() {
                Some(l) => $crate::Line::new().str("PANIC at ").str(l.file()).str(":").dec(l.line() as u64).print(),
                None => $crate::Line::new().str("PANIC").print(),
            }
            $crate::exit(false)
        }

        #[cortex_m_rt::exception]
        unsafe fn HardFault(ef: &cortex_m_rt::ExceptionFrame) -> ! {
            $crate::Line::new().str("HARDFAULT pc=").hex(ef.pc()).str(" lr=").hex(ef.lr()).print();
            $crate::exit(false)
        }
    };
}

/// Region markers for the Cortex-M4 cycle estimate (scripts/m4-cycles): functions the QEMU
/// plugin recognizes by address, called around what it measures. Each stores its own value,
/// so the linker cannot fold them into one.
pub mod mark {
    use core::sync::atomic::AtomicU32;

    static MARK: AtomicU32 = AtomicU32::new(0);

    /// A volatile store: an effect the optimizer keeps, so the calls stay.
    #[inline(always)]
    fn store(v: u32) {
        // SAFETY: MARK is a valid, aligned u32 for the whole program; single core.
        unsafe { core::ptr::write_volatile(MARK.as_ptr(), v) }
    }

    /// Before one inference.
    #[inline(never)]
    #[no_mangle]
    pub extern "C" fn myelin_mark_infer_begin() {
        store(1);
    }

    /// After one inference.
    #[inline(never)]
    #[no_mangle]
    pub extern "C" fn myelin_mark_infer_end() {
        store(2);
    }

    /// Before one dense layer's integer or float products (with bias and requantization).
    #[inline(never)]
    #[no_mangle]
    pub extern "C" fn myelin_mark_dense_begin() {
        store(3);
    }

    /// After it.
    #[inline(never)]
    #[no_mangle]
    pub extern "C" fn myelin_mark_dense_end() {
        store(4);
    }
}
