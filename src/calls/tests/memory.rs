//! What a live bridged call holds: the `Call` value and every heap byte it keeps, counted by
//! an allocator that tracks, per thread, the bytes allocated and not yet freed (so tests
//! running in parallel do not disturb each other). The allocator is the only `unsafe` code, in
//! tests only: `GlobalAlloc` is an unsafe trait, and each method forwards to `System` as is.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use super::dial::dialled;
use super::*;

/// The system allocator, counting each thread's live bytes.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    let _ = LIVE.try_with(|l| l.set(l.get() + delta));
}

// SAFETY: every call is forwarded to `System` unchanged; only a counter is updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: the caller upholds `alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.with(Cell::get)
}

#[test]
fn a_live_bridged_call_holds_less_than_16_kb() {
    let before = live();
    let mut d = dialled(
        r#"<Dial action="/after"><Sip statusCallback="/child">sip:bob@192.0.2.7:5070?X-Room=7</Sip></Dial>"#,
    );
    let out = d.bridge();
    drop(out);
    d.out = Vec::new();
    d.invite = Bytes::new();
    // Everything the test built is gone; what is left is the call (its Settings are shared by
    // the domain's calls, but counted here).
    let heap = live() - before;
    let total = heap as usize + std::mem::size_of::<Call>();
    println!(
        "a live bridged call: {} bytes (Call {} + heap {heap}); {} transactions",
        total,
        std::mem::size_of::<Call>(),
        d.call.txns.len()
    );
    assert!(
        total <= 16 * 1024,
        "a live bridged call holds {total} bytes"
    );
    // Once the INVITE transactions are over (timers L and M), it holds less.
    let later = d.call.on_timer(
        CallTimer::Sip {
            txn: 1,
            timer: crate::sip::ua::Timer::L,
        },
        at(40_000),
    );
    drop(later);
    assert!(live() - before < heap);
}

#[test]
fn a_call_can_move_between_threads() {
    fn send<T: Send + 'static>() {}
    send::<Call>();
    send::<Out>();
}
