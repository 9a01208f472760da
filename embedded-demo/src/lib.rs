//! Board support shared by the demo binaries: instruction counting with SysTick, semihosting
//! output and exit codes, a fault handler that reports, and stack measurement.
#![no_std]

use cortex_m::peripheral::{syst::SystClkSource, SYST};
use cortex_m_semihosting::debug;
pub use cortex_m_semihosting::hprintln;

/// Guest instructions per SysTick tick on mps2-an386 under `-icount shift=0`
/// (25 MHz SysTick, 1 ns per instruction).
pub const INSTRUCTIONS_PER_TICK: u64 = 40;

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

/// Top of RAM on mps2-an386 (initial stack pointer).
pub const RAM_END: usize = 0x2040_0000;

/// Installs the panic and HardFault handlers: both print what happened and exit non-zero.
#[macro_export]
macro_rules! handlers {
    () => {
        #[panic_handler]
        fn panic(info: &core::panic::PanicInfo) -> ! {
            if let Some(l) = info.location() {
                $crate::hprintln!("PANIC at {}:{}", l.file(), l.line());
            } else {
                $crate::hprintln!("PANIC");
            }
            $crate::exit(false)
        }

        #[cortex_m_rt::exception]
        unsafe fn HardFault(ef: &cortex_m_rt::ExceptionFrame) -> ! {
            $crate::hprintln!("HARDFAULT pc={:#010x} lr={:#010x}", ef.pc(), ef.lr());
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
