//! Asynchronous writes queued per index and run one at a time on the index's own write
//! thread, in the order they were queued.
//!
//! A host that ran each asynchronous write on a shared worker pool (Node's libuv pool has four
//! threads) would let writes waiting for an index's writer lock occupy that pool, and the
//! searches queued behind them would wait too. Here a waiting write is only an entry in its
//! index's queue: the thread that drains it starts when the queue gets work and ends when the
//! queue is empty. That thread runs at a lower CPU priority than searches
//! ([`yield_to_searches`]): a service that ingests while it serves keeps its search throughput,
//! and its writes use the time searches leave.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use parking_lot::Mutex;

/// One queued write. It settles its own result (for a binding: resolves a promise); a panic
/// inside it is contained and does not stop the queue.
pub type WriteJob = Box<dyn FnOnce() + Send>;

/// An index's write queue (see the module docs).
#[derive(Default)]
pub struct WriteQueue {
    state: Mutex<QueueState>,
}

#[derive(Default)]
struct QueueState {
    jobs: VecDeque<WriteJob>,
    /// Whether a thread is draining the queue.
    running: bool,
}

impl WriteQueue {
    /// A new, empty queue (shared by the index and the jobs that drain it).
    pub fn new() -> Arc<Self> {
        Arc::new(WriteQueue::default())
    }

    /// Queues `job` behind every job queued before it. If no thread is draining the queue,
    /// one is started; if the system cannot start a thread, the queue is drained on the
    /// calling thread instead (the write still happens, in order).
    pub fn submit(self: &Arc<Self>, job: WriteJob) {
        {
            let mut state = self.state.lock();
            state.jobs.push_back(job);
            if state.running {
                return;
            }
            state.running = true;
        }
        let queue = Arc::clone(self);
        let started = std::thread::Builder::new()
            .name("quiver-write".into())
            .spawn(move || {
                yield_to_searches();
                queue.drain()
            });
        if started.is_err() {
            self.drain();
        }
    }

    /// Runs jobs until the queue is empty, then marks it idle.
    fn drain(&self) {
        loop {
            let job = {
                let mut state = self.state.lock();
                match state.jobs.pop_front() {
                    Some(job) => job,
                    None => {
                        state.running = false;
                        return;
                    }
                }
            };
            // A job reports its own errors; a panic escaping it must not end the drain and
            // leave later jobs queued forever.
            let _ = catch_unwind(AssertUnwindSafe(job));
        }
    }

    /// Jobs waiting (not counting one that is running).
    pub fn pending(&self) -> usize {
        self.state.lock().jobs.len()
    }
}

/// The nice value of the write thread on Linux: CFS then gives it about a tenth of a core's
/// time while a search thread wants that core, and any time no search wants.
pub const WRITE_THREAD_NICE: i32 = 10;

/// Lowers the calling thread's CPU priority to [`WRITE_THREAD_NICE`] (Linux; elsewhere a
/// no-op), so that on a busy machine searches run first and writes take the time searches
/// leave. Writes of 256 or more vectors link on the index's pool at normal priority, so a
/// bulk load is not slowed; a service's small writes are. A thread can always lower its own
/// priority; on failure it keeps the priority it had.
pub fn yield_to_searches() {
    #[cfg(target_os = "linux")]
    // SAFETY: neither call takes a pointer or touches memory; `setpriority` on this thread's
    // id changes only this thread's nice value (Linux keeps one per thread).
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, WRITE_THREAD_NICE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// Queued writes run below the submitting thread's priority; the submitter keeps its own.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_write_thread_yields_to_searches() {
        fn nice() -> i32 {
            // SAFETY: no pointers; getpriority of this thread's id reads its nice value.
            unsafe {
                let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                libc::getpriority(libc::PRIO_PROCESS, tid)
            }
        }
        let mine = nice();
        let queue = WriteQueue::new();
        let (tx, rx) = mpsc::channel();
        queue.submit(Box::new(move || {
            let _ = tx.send(nice());
        }));
        let theirs = rx.recv().expect("the job ran");
        assert_eq!(theirs, WRITE_THREAD_NICE.max(mine), "write thread");
        assert_eq!(nice(), mine, "the submitting thread keeps its priority");
    }

    #[test]
    fn jobs_run_in_order_on_one_thread_and_survive_panics() {
        let queue = WriteQueue::new();
        let (tx, rx) = mpsc::channel();
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        // The first job waits for the gate, so the next ones queue behind it.
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let first = tx.clone();
        queue.submit(Box::new(move || {
            started_tx.send(()).ok();
            gate_rx.recv().ok();
            first.send((0, std::thread::current().id())).ok();
        }));
        queue.submit(Box::new(|| panic!("a failing write")));
        for i in 1..50 {
            let tx = tx.clone();
            queue.submit(Box::new(move || {
                tx.send((i, std::thread::current().id())).ok();
            }));
        }
        started_rx.recv().unwrap();
        assert_eq!(
            queue.pending(),
            50,
            "waiting writes are queue entries, not threads"
        );
        gate_tx.send(()).unwrap();
        let got: Vec<_> = (0..50).map(|_| rx.recv().unwrap()).collect();
        assert_eq!(
            got.iter().map(|g| g.0).collect::<Vec<_>>(),
            (0..50).collect::<Vec<_>>()
        );
        assert!(
            got.iter().all(|g| g.1 == got[0].1),
            "one thread drains a burst"
        );
        assert_ne!(got[0].1, std::thread::current().id());
        // Idle again: a later job starts a new drain.
        let (tx, rx) = mpsc::channel();
        while queue.state.lock().running {
            std::thread::yield_now();
        }
        queue.submit(Box::new(move || {
            tx.send(()).ok();
        }));
        rx.recv().unwrap();
    }
}
