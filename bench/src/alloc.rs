//! The servers' allocator, chosen per process at start-up so that one binary can compare
//! allocators: `WS_BENCH_ALLOC=system|mimalloc|jemalloc` (default: the system allocator,
//! glibc malloc). With `WS_BENCH_COUNT` set, the bytes currently allocated are counted
//! (the live heap, [`live_bytes`]); off by default, so the traffic figures pay only a
//! predicted branch per call.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicU8, Ordering};

#[cfg(feature = "allocators")]
use mimalloc::MiMalloc;
#[cfg(feature = "allocators")]
use tikv_jemallocator::Jemalloc;

pub struct Switch;

const UNSET: u8 = 0;
const SYSTEM: u8 = 1;
#[cfg(feature = "allocators")]
const MIMALLOC: u8 = 2;
#[cfg(feature = "allocators")]
const JEMALLOC: u8 = 3;
const COUNT: u8 = 0x80;

static CHOICE: AtomicU8 = AtomicU8::new(UNSET);
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// Bytes allocated and not yet freed (0 unless `WS_BENCH_COUNT` is set).
pub fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

#[inline]
fn choice() -> u8 {
    match CHOICE.load(Ordering::Relaxed) {
        UNSET => init(),
        c => c,
    }
}

/// Reads the environment on the first allocation (getenv does not allocate). Every call
/// computes the same value, so a race between threads is harmless.
#[cold]
fn init() -> u8 {
    let get = |name: &std::ffi::CStr| -> Option<&'static [u8]> {
        // SAFETY: `name` is NUL-terminated; the harness never changes its environment, so
        // the returned string stays valid and unchanged for the life of the process.
        unsafe {
            let value = libc::getenv(name.as_ptr());
            (!value.is_null()).then(|| std::ffi::CStr::from_ptr(value).to_bytes())
        }
    };
    let mut choice = match get(c"WS_BENCH_ALLOC") {
        #[cfg(feature = "allocators")]
        Some(b"mimalloc") => MIMALLOC,
        #[cfg(feature = "allocators")]
        Some(b"jemalloc") => JEMALLOC,
        _ => SYSTEM,
    };
    if get(c"WS_BENCH_COUNT").is_some() {
        choice |= COUNT;
    }
    CHOICE.store(choice, Ordering::Relaxed);
    choice
}

#[inline]
fn count(c: u8, delta: isize) {
    if c & COUNT != 0 {
        LIVE.fetch_add(delta, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to the same allocator for the life of the process (the
// choice is made once, before the first allocation returns), so each block is freed or
// reallocated by the allocator that made it; the counter does not touch the blocks.
unsafe impl GlobalAlloc for Switch {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let c = choice();
        let p = match c & !COUNT {
            #[cfg(feature = "allocators")]
            MIMALLOC => MiMalloc.alloc(layout),
            #[cfg(feature = "allocators")]
            JEMALLOC => Jemalloc.alloc(layout),
            _ => System.alloc(layout),
        };
        if !p.is_null() {
            count(c, layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let c = choice();
        let p = match c & !COUNT {
            #[cfg(feature = "allocators")]
            MIMALLOC => MiMalloc.alloc_zeroed(layout),
            #[cfg(feature = "allocators")]
            JEMALLOC => Jemalloc.alloc_zeroed(layout),
            _ => System.alloc_zeroed(layout),
        };
        if !p.is_null() {
            count(c, layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let c = choice();
        match c & !COUNT {
            #[cfg(feature = "allocators")]
            MIMALLOC => MiMalloc.dealloc(ptr, layout),
            #[cfg(feature = "allocators")]
            JEMALLOC => Jemalloc.dealloc(ptr, layout),
            _ => System.dealloc(ptr, layout),
        }
        count(c, -(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let c = choice();
        let p = match c & !COUNT {
            #[cfg(feature = "allocators")]
            MIMALLOC => MiMalloc.realloc(ptr, layout, new_size),
            #[cfg(feature = "allocators")]
            JEMALLOC => Jemalloc.realloc(ptr, layout, new_size),
            _ => System.realloc(ptr, layout, new_size),
        };
        if !p.is_null() {
            count(c, new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Refuses to run a server on an allocator this build does not have, rather than measure
/// glibc under another name.
pub fn check_choice() -> Result<(), String> {
    match std::env::var("WS_BENCH_ALLOC").as_deref() {
        Ok("mimalloc" | "jemalloc") if !cfg!(feature = "allocators") => Err(
            "mimalloc and jemalloc need the `allocators` feature (scripts/bench.sh turns it on)"
                .into(),
        ),
        _ => Ok(()),
    }
}

/// With `WS_BENCH_TRIM_MS=<n>`, a thread that calls glibc's `malloc_trim(0)` every `n` ms
/// (returns free memory at the top of the heap and free pages inside it to the kernel).
pub fn spawn_trimmer() {
    let Some(ms) = std::env::var("WS_BENCH_TRIM_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    std::thread::spawn(move || loop {
        std::thread::sleep(std::time::Duration::from_millis(ms));
        // SAFETY: malloc_trim has no preconditions; it only takes glibc's own locks.
        unsafe {
            libc::malloc_trim(0);
        }
    });
}
