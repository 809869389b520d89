//! mimalloc (the service's allocator) wrapped to count live heap bytes and their high-water
//! mark, for the benchmarks that report memory. Included with `#[path]`.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

/// mimalloc (the service's allocator) with a count of live bytes and of the high-water mark.
pub struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static MI: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn add(n: isize) {
    let now = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    if n > 0 {
        PEAK.fetch_max(now.max(0) as usize, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        add(l.size() as isize);
        MI.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        add(-(l.size() as isize));
        MI.dealloc(p, l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        add(l.size() as isize);
        MI.alloc_zeroed(l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        add(new as isize - l.size() as isize);
        MI.realloc(p, l, new)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

pub fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

pub fn reset_peak() -> isize {
    let now = live();
    PEAK.store(now.max(0) as usize, Ordering::Relaxed);
    now
}

pub fn peak() -> isize {
    PEAK.load(Ordering::Relaxed) as isize
}
