//! Where a watcher's libev struct lives: inline in its cell ([`Inline`]),
//! or in a per-loop pool of same-typed structs ([`Pooled`]).
//!
//! libev's timer heap touches the timer structs themselves as it sifts
//! (`ev_timer_start`/`stop` write each moved watcher's heap index), so with
//! many timers the cost is memory traffic: a million timers in separate
//! 128-byte cells run about 1.4x slower than the same timers in one array
//! of 48-byte structs (measured with plain C on libev, and by
//! `cargo bench -p hinge-bench --bench micro -- timers`). The pool keeps
//! the structs dense: chunks of `CHUNK` structs, never moved (libev holds
//! their addresses), each slot reused through a per-chunk free list, and a
//! chunk freed once it empties, except one kept as the pool's spare.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::rc::Rc;

use super::loop_core::LoopCore;

/// How a watcher cell holds its libev struct.
pub(crate) trait Store<R>: Sized + 'static {
    /// Storage for a struct of `core`'s loop, initialised with `R::default()`.
    fn new(core: &LoopCore) -> Self;
    /// The struct's address: stable for as long as `self` lives.
    fn get(&self) -> *mut R;
}

/// The struct inside the watcher's own cell.
pub(crate) struct Inline<R>(UnsafeCell<R>);

impl<R: Default + 'static> Store<R> for Inline<R> {
    fn new(_: &LoopCore) -> Self {
        Inline(UnsafeCell::new(R::default()))
    }

    #[inline]
    fn get(&self) -> *mut R {
        self.0.get()
    }
}

/// Structs per chunk: 24 KiB of 48-byte timers.
const CHUNK: usize = 512;
/// The end of a chunk's free list.
const NONE: u32 = u32::MAX;

struct Chunk<R> {
    slots: UnsafeCell<MaybeUninit<[R; CHUNK]>>,
    /// The first free slot, or `NONE`; each free slot's first four bytes
    /// hold the next.
    free: Cell<u32>,
    /// Slots from here on were never handed out.
    fresh: Cell<u32>,
    live: Cell<u32>,
    /// Whether the pool's `open` list holds this chunk.
    open: Cell<bool>,
    /// The pool, held while a slot is out (so a slot needs no pointer of
    /// its own to it); `None` for the pool's spare.
    pool: RefCell<Option<Rc<Pool<R>>>>,
}

impl<R> Chunk<R> {
    /// Slot `idx`'s struct (`idx < CHUNK`).
    fn slot(&self, idx: u32) -> *mut R {
        debug_assert!((idx as usize) < CHUNK);
        // SAFETY: in bounds of the chunk's array (idx < CHUNK).
        unsafe { self.slots.get().cast::<R>().add(idx as usize) }
    }
}

/// `R` can hold a free-list link (a `u32`) while its slot is free.
struct Link<R>(std::marker::PhantomData<R>);
impl<R> Link<R> {
    const FITS: () = assert!(
        std::mem::size_of::<R>() >= std::mem::size_of::<u32>()
            && std::mem::align_of::<R>() >= std::mem::align_of::<u32>()
    );
}

/// A loop's pool of structs of type `R` (a loop local).
pub(crate) struct Pool<R> {
    /// Chunks with a slot out and a slot free; the last is used first.
    /// Full chunks are reachable only through their slots.
    open: RefCell<Vec<NonNull<Chunk<R>>>>,
    /// One empty chunk kept for reuse, so that a loop creating and
    /// dropping one timer at a time does not allocate a chunk each time.
    spare: Cell<Option<NonNull<Chunk<R>>>>,
}

impl<R> Default for Pool<R> {
    fn default() -> Self {
        Pool {
            open: RefCell::new(Vec::new()),
            spare: Cell::new(None),
        }
    }
}

/// Frees a chunk that no list holds and no slot points into.
///
/// # Safety
/// `chunk` came from `Box::leak` in `alloc` and is not used again.
unsafe fn free_chunk<R>(chunk: NonNull<Chunk<R>>) {
    // SAFETY: forwarded from the caller.
    drop(unsafe { Box::from_raw(chunk.as_ptr()) });
}

fn alloc<R: Default>(pool: &Rc<Pool<R>>) -> (NonNull<R>, NonNull<Chunk<R>>) {
    let mut open = pool.open.borrow_mut();
    let chunk = match open.last() {
        Some(&c) => c,
        None => {
            let c = pool.spare.take().unwrap_or_else(|| {
                NonNull::from(Box::leak(Box::new(Chunk {
                    slots: UnsafeCell::new(MaybeUninit::uninit()),
                    free: Cell::new(NONE),
                    fresh: Cell::new(0),
                    live: Cell::new(0),
                    open: Cell::new(false),
                    pool: RefCell::new(None),
                })))
            });
            // SAFETY: a chunk of this pool, alive (it is no one's to free).
            let chunk = unsafe { c.as_ref() };
            chunk.open.set(true);
            *chunk.pool.borrow_mut() = Some(pool.clone());
            open.push(c);
            c
        }
    };
    // SAFETY: every chunk in `open` is a live allocation of this pool.
    let c = unsafe { chunk.as_ref() };
    let idx = match c.free.get() {
        NONE => {
            let i = c.fresh.get();
            c.fresh.set(i + 1);
            i
        }
        i => {
            // SAFETY: a free slot's first bytes hold the next free index
            // (written by `release`); R is at least that large and aligned
            // (checked in `Pooled::new`).
            let next = unsafe { c.slot(i).cast::<u32>().read() };
            c.free.set(next);
            i
        }
    };
    c.live.set(c.live.get() + 1);
    if c.live.get() as usize == CHUNK {
        c.open.set(false);
        open.pop();
    }
    let slot = c.slot(idx);
    // SAFETY: the slot is unused; nothing else points into it.
    unsafe { slot.write(R::default()) };
    // SAFETY: a slot of a live chunk is not null.
    (unsafe { NonNull::new_unchecked(slot) }, chunk)
}

/// Returns `slot` to its chunk, and frees the chunk (or keeps it as the
/// pool's spare) once it is empty.
///
/// # Safety
/// The slot was handed out by `alloc` from `chunk`, is not used again, and
/// libev holds no pointer to it (the watcher is stopped).
unsafe fn release<R>(slot: NonNull<R>, chunk: NonNull<Chunk<R>>) {
    // SAFETY: the chunk lives while one of its slots is out.
    let c = unsafe { chunk.as_ref() };
    let base = c.slot(0);
    // SAFETY: `slot` points into `c.slots`, at a multiple of R's size.
    let idx = unsafe { slot.as_ptr().offset_from(base) } as u32;
    // SAFETY: the struct is plain data (a libev watcher), and the slot is
    // the caller's to give back.
    unsafe {
        std::ptr::drop_in_place(slot.as_ptr());
        slot.as_ptr().cast::<u32>().write(c.free.get());
    }
    c.free.set(idx);
    c.live.set(c.live.get() - 1);
    let Some(pool) = c.pool.borrow().clone() else {
        unreachable!("a chunk with a slot out holds its pool")
    };
    if c.live.get() == 0 {
        if c.open.replace(false) {
            pool.open.borrow_mut().retain(|&o| o != chunk);
        }
        *c.pool.borrow_mut() = None;
        match pool.spare.take() {
            None => pool.spare.set(Some(chunk)),
            Some(spare) => {
                pool.spare.set(Some(spare));
                // SAFETY: empty, in no list, and no slot points into it.
                unsafe { free_chunk(chunk) };
            }
        }
    } else if !c.open.replace(true) {
        pool.open.borrow_mut().push(chunk);
    }
    // `pool` drops last: it may be the pool's last count.
}

impl<R> Drop for Pool<R> {
    fn drop(&mut self) {
        // Chunks with a slot out hold the pool, so none is left but the
        // spare.
        debug_assert!(self.open.get_mut().is_empty());
        if let Some(spare) = self.spare.take() {
            // SAFETY: the spare is empty and held nowhere else.
            unsafe { free_chunk(spare) };
        }
    }
}

/// A struct in its loop's pool; the slot goes back when this drops.
pub(crate) struct Pooled<R: Default + 'static> {
    slot: NonNull<R>,
    chunk: NonNull<Chunk<R>>,
}

impl<R: Default + 'static> Store<R> for Pooled<R> {
    fn new(core: &LoopCore) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Link::<R>::FITS;
        let (slot, chunk) = alloc(&core.kept_local(Pool::<R>::default));
        Pooled { slot, chunk }
    }

    #[inline]
    fn get(&self) -> *mut R {
        self.slot.as_ptr()
    }
}

impl<R: Default + 'static> Drop for Pooled<R> {
    fn drop(&mut self) {
        // SAFETY: the slot came from this chunk and is released once; its
        // watcher cell is being freed, which happens only after the
        // watcher was stopped and detached (invariants 3 and 6).
        unsafe { release(self.slot, self.chunk) }
    }
}
