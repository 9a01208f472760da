//! A team of worker threads that wait for work by spinning: the trainer's two per-step
//! phases (the shards, then the reduction and update) hand over without waking a sleeping
//! thread, where a rayon fork/join pays for waking its idle worker every step
//! (BENCHMARKS.md, "Kernel choices"). A worker spins for a while after each job, then parks
//! until the next one.
//!
//! [`Team::for_each_mut`] is the only entry: item `i` of a slice goes to member `i % n`
//! (the caller is member 0) and the call returns when every item is done, so the items
//! and the closure may borrow from the caller's stack. It takes `&mut self`: one call at a
//! time per team, and none from inside its own closure (the closure cannot borrow the team
//! while the call holds it), so the `done` count always belongs to the call that waits on it.
//! Both misuses fail to compile:
//!
//! ```compile_fail
//! let mut team = myelin::train::team::Team::new(2).unwrap();
//! let mut items = [0u32; 4];
//! // A nested call from inside the closure.
//! team.for_each_mut(&mut items, |_, _| team.for_each_mut(&mut [0u8; 2], |_, _| {}));
//! ```
//!
//! ```compile_fail
//! let mut team = myelin::train::team::Team::new(2).unwrap();
//! // Two threads calling at once.
//! std::thread::scope(|s| {
//!     s.spawn(|| team.for_each_mut(&mut [0u8; 2], |_, _| {}));
//!     team.for_each_mut(&mut [0u8; 2], |_, _| {});
//! });
//! ```
//!
//! while the same calls one after another compile and run:
//!
//! ```
//! let mut team = myelin::train::team::Team::new(2).unwrap();
//! let mut items = [0u32; 4];
//! team.for_each_mut(&mut items, |i, it| *it = i as u32);
//! std::thread::scope(|s| {
//!     s.spawn(|| team.for_each_mut(&mut items, |_, it| *it += 1));
//! });
//! assert_eq!(items, [1, 2, 3, 4]);
//! ```

#![allow(unsafe_code)]

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, Thread};

/// Spin iterations (about 20 ns each) a worker waits for the next job before parking.
const SPIN: u32 = 1 << 14;

/// The job a member runs: its index. Lifetime-erased pointer to a closure on the stack of
/// the caller of [`Team::for_each_mut`], which does not return before every member is done.
#[derive(Clone, Copy)]
struct Job(*const (dyn Fn(usize) + Sync + 'static));

// SAFETY: the pointee is `Sync` and outlives every use (see `Team::run`).
unsafe impl Send for Job {}

struct Shared {
    /// Bumped (Release) once per job after `job` is set.
    generation: AtomicU64,
    /// Members (other than the caller) that finished the current job.
    done: AtomicUsize,
    job: Mutex<Option<Job>>,
    /// A member's job panicked (the payload is re-raised by the caller).
    panic: Mutex<Option<Box<dyn std::any::Any + Send>>>,
    stop: AtomicBool,
    /// Per worker: set before it parks, so the caller knows to unpark it.
    parked: Vec<AtomicBool>,
}

/// `n - 1` spinning worker threads plus the calling thread.
pub struct Team {
    shared: Arc<Shared>,
    workers: Vec<(Thread, JoinHandle<()>)>,
}

impl Team {
    /// A team of `n` members (`n - 1` new threads; `n <= 1` starts none).
    pub fn new(n: usize) -> std::io::Result<Team> {
        let extra = n.saturating_sub(1);
        let shared = Arc::new(Shared {
            generation: AtomicU64::new(0),
            done: AtomicUsize::new(0),
            job: Mutex::new(None),
            panic: Mutex::new(None),
            stop: AtomicBool::new(false),
            parked: (0..extra).map(|_| AtomicBool::new(false)).collect(),
        });
        // Workers join the team as they start: if a later spawn fails, dropping the team stops
        // and joins the ones already running.
        let mut team = Team { shared, workers: Vec::with_capacity(extra) };
        for w in 0..extra {
            let sh = team.shared.clone();
            let handle =
                std::thread::Builder::new().name(format!("myelin-team-{}", w + 1)).spawn(move || worker(&sh, w))?;
            team.workers.push((handle.thread().clone(), handle));
        }
        Ok(team)
    }

    /// Members, the caller included.
    pub fn size(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs `f(i, &mut items[i])` for every item, item `i` on member `i % size()` (members
    /// take their items in order); returns when all are done. A panic in `f` is re-raised
    /// here after every member has finished.
    pub fn for_each_mut<T: Send>(&mut self, items: &mut [T], f: impl Fn(usize, &mut T) + Sync) {
        let n = self.size();
        let len = items.len();
        if n == 1 || len <= 1 {
            items.iter_mut().enumerate().for_each(|(i, it)| f(i, it));
            return;
        }
        let base = SendPtr(items.as_mut_ptr());
        let member = |m: usize| {
            let base = &base;
            let mut i = m;
            while i < len {
                // SAFETY: i < len, and index i belongs to member i % n alone, so no two
                // members ever hold a reference to the same item; `items` is borrowed
                // mutably for the whole call, which outlasts every member's work.
                let item = unsafe { &mut *base.0.add(i) };
                f(i, item);
                i += n;
            }
        };
        self.run(&member);
    }

    /// [`Team::for_each_mut`] with a fallible `f`: every item runs; the first error recorded
    /// is returned once all are done.
    pub fn try_for_each_mut<T: Send, E: Send>(
        &mut self,
        items: &mut [T],
        f: impl Fn(usize, &mut T) -> Result<(), E> + Sync,
    ) -> Result<(), E> {
        let failed = Mutex::new(None);
        self.for_each_mut(items, |i, it| {
            if let Err(e) = f(i, it) {
                lock(&failed).get_or_insert(e);
            }
        });
        match failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Runs `job(m)` on every member `m` (the caller is 0) and waits for all. `&mut self`:
    /// no other call can be running on this team (see the module docs).
    fn run(&mut self, job: &(dyn Fn(usize) + Sync)) {
        let sh = &*self.shared;
        // SAFETY (lifetime erasure): workers dereference this pointer only between the
        // generation bump below and their `done` increment, and this function does not
        // return (nor unwind: the caller's own part is caught) before `done` counts every
        // worker, so the closure outlives every use.
        let job_ptr: *const (dyn Fn(usize) + Sync + '_) = job;
        let erased = unsafe {
            std::mem::transmute::<*const (dyn Fn(usize) + Sync + '_), *const (dyn Fn(usize) + Sync + 'static)>(job_ptr)
        };
        *lock(&sh.job) = Some(Job(erased));
        sh.done.store(0, Ordering::Relaxed);
        // SeqCst here and around a worker's parking: either it sees this generation or this
        // sees it parked.
        sh.generation.fetch_add(1, Ordering::SeqCst);
        for (w, (thread, _)) in self.workers.iter().enumerate() {
            if sh.parked[w].load(Ordering::SeqCst) {
                thread.unpark();
            }
        }
        let mine = catch_unwind(AssertUnwindSafe(|| job(0)));
        let mut spins = 0u32;
        while sh.done.load(Ordering::Acquire) < self.workers.len() {
            spins = spins.saturating_add(1);
            if spins < SPIN {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        *lock(&sh.job) = None;
        if let Err(p) = mine {
            resume_unwind(p);
        }
        if let Some(p) = lock(&sh.panic).take() {
            resume_unwind(p);
        }
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        for (thread, _) in &self.workers {
            thread.unpark();
        }
        for (_, handle) in self.workers.drain(..) {
            let _ = handle.join();
        }
    }
}

struct SendPtr<T>(*mut T);
// SAFETY: used only to hand disjoint items to members (see `for_each_mut`); T: Send there.
unsafe impl<T: Send> Sync for SendPtr<T> {}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn worker(sh: &Shared, w: usize) {
    let mut seen = 0u64;
    loop {
        // Wait for a new generation: spin, then park (re-checking after announcing it).
        let mut spins = 0u32;
        let gen = loop {
            if sh.stop.load(Ordering::Acquire) {
                return;
            }
            let g = sh.generation.load(Ordering::Acquire);
            if g != seen {
                break g;
            }
            if spins < SPIN {
                spins += 1;
                std::hint::spin_loop();
            } else {
                sh.parked[w].store(true, Ordering::SeqCst);
                if sh.generation.load(Ordering::SeqCst) == seen && !sh.stop.load(Ordering::SeqCst) {
                    std::thread::park();
                }
                sh.parked[w].store(false, Ordering::SeqCst);
            }
        };
        seen = gen;
        let job = *lock(&sh.job);
        if let Some(Job(f)) = job {
            // SAFETY: set by `Team::run` for this generation, which waits for this
            // member's `done` before the closure goes out of scope.
            let f = unsafe { &*f };
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(w + 1))) {
                lock(&sh.panic).get_or_insert(p);
            }
        }
        sh.done.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_once_on_its_member() {
        for n in 1..=3 {
            let mut team = Team::new(n).unwrap();
            for len in [0usize, 1, 2, 3, 7] {
                for _round in 0..3 {
                    let mut items: Vec<(usize, usize)> = vec![(usize::MAX, 0); len];
                    team.for_each_mut(&mut items, |i, it| {
                        it.0 = i;
                        it.1 += 1;
                    });
                    for (i, it) in items.iter().enumerate() {
                        assert_eq!(*it, (i, 1), "n {n} len {len}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_members_panic_reaches_the_caller_and_the_team_still_works() {
        let mut team = Team::new(2).unwrap();
        let mut items = [0u32; 2];
        let r = catch_unwind(AssertUnwindSafe(|| {
            team.for_each_mut(&mut items, |i, _| {
                if i == 1 {
                    panic!("member 1 fails");
                }
            })
        }));
        assert!(r.is_err());
        team.for_each_mut(&mut items, |i, it| *it = i as u32 + 10);
        assert_eq!(items, [10, 11]);
    }
}
