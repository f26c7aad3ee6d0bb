//! A wire march naming troop type 65535 is refused before anything is sized by it. Measured with
//! a counting allocator, so this is its own test binary (the allocator is process-wide; counts
//! are per thread, so other tests could not disturb them anyway).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use dominion::commands::command_from_wire;
use dominion_net::proto::{CommandBody, CommandOutcome};

struct Counting;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counter only reads the
// requested size.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.with(|a| a.set(a.get() + layout.size()));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.with(|a| a.set(a.get() + new_size));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes this thread allocated while running `f`.
fn allocated_by<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATED.with(Cell::get);
    let out = f();
    (out, ALLOCATED.with(Cell::get) - before)
}

#[test]
fn unit_65535_is_refused_without_sizing_anything_by_it() {
    let body = CommandBody::SendMarch {
        troops: vec![(0, 10), (65535, 1)],
        target: 42,
        mission: 1,
    };
    let (result, bytes) = allocated_by(|| command_from_wire(&body, 4));
    match result {
        Err(CommandOutcome::Refused {
            reason_code,
            message,
        }) => {
            assert_eq!(reason_code, 16);
            assert_eq!(message, "unknown troop type #65535");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // The refusal's message is all that is allocated; a troop vector sized by the id would be
    // 65,536 × 4 bytes.
    assert!(bytes < 256, "{bytes} bytes allocated");

    // A valid march allocates its few entries, nothing more.
    let body = CommandBody::SendMarch {
        troops: vec![(3, 10)],
        target: 42,
        mission: 1,
    };
    let (result, bytes) = allocated_by(|| command_from_wire(&body, 4));
    assert!(result.is_ok(), "{result:?}");
    assert!(bytes <= 4 * 4, "{bytes} bytes allocated");
}
