//! A coarse timer shared by every connection of the process, for the idle timeout.
//!
//! Why not a tokio `Sleep` per connection: the idle timeout exists for the connections
//! that do nothing, and each of those held a boxed `Sleep` (a timer-wheel entry with its
//! own waker slot, 128 bytes with the allocator's header) for its whole life: about a
//! tenth of an idle connection's memory (docs/benchmarks.md, "idle memory"). The idle
//! timeout needs no precision (it fires every quarter of a timeout measured in minutes),
//! so one wheel serves them all: a connection keeps 16 bytes inline and owns one slot
//! (an intrusive list node, 40 bytes) in a shared table.
//!
//! Who turns the wheel: by default one thread, `hybi-idle`, started when the first timer
//! is armed. An application may turn it from a task of its own runtime instead
//! ([`drive_idle_timers`]): a process with a single thread lets glibc take the fast path
//! of `send`/`recv` (no cancellation-point bookkeeping, 1.8% of a small-message echo's
//! CPU; docs/benchmarks.md, "one thread"), and the wake-ups stay on the runtime's thread.
//! If that task is dropped (its runtime shut down) while timers are armed, the thread
//! takes over, so a timeout never stops firing.
//!
//! The fast path, asked on every poll of a connection, is one atomic load ([`IdleTimer::
//! is_due`]) and a pointer comparison; the shared lock is taken when a timer is armed,
//! re-armed (once per quarter timeout), moved to another task, or dropped.
//!
//! The wheel runs on the wall clock (`std::time::Instant`), not on tokio's clock: pausing
//! tokio's time in a test does not pause idle timeouts driven by the thread.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::task::Waker;
use std::time::{Duration, Instant};

/// The wheel's resolution. Idle timeouts are minutes; a timer fires up to one tick late,
/// never early.
const TICK: Duration = Duration::from_millis(100);

/// End of a list of slots.
const NIL: u32 = u32::MAX;

struct Wheel {
    start: Instant,
    /// The last tick the wheel's thread has processed: every timer due at or before it
    /// has been woken. Read without the lock by [`IdleTimer::is_due`].
    now: AtomicU64,
    inner: Mutex<Inner>,
    /// Wakes the thread when a timer is armed earlier than it planned to wake up.
    changed: Condvar,
    /// The same for a driving task ([`drive_idle_timers`]).
    changed_task: tokio::sync::Notify,
}

/// What turns the wheel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Driver {
    /// Nothing yet: the first timer armed starts the thread.
    #[default]
    None,
    /// The `hybi-idle` thread (for the rest of the process's life).
    Thread,
    /// A task running [`drive_idle_timers`].
    Task,
    /// The thread could not be started (the process is at its thread limit): connections
    /// fall back to a tokio timer each (`WebSocket::poll_timers`); the timeout still holds.
    Unavailable,
}

#[derive(Default)]
struct Inner {
    slots: Vec<Slot>,
    /// Head of the free list, threaded through `Slot::next`.
    free: Option<u32>,
    /// Tick -> first slot due then; the others follow through `Slot::next`.
    buckets: BTreeMap<u64, u32>,
    /// The tick the driver sleeps until (`None`: until a timer is armed).
    sleeping_until: Option<u64>,
    driver: Driver,
}

struct Slot {
    waker: Option<Waker>,
    /// 0 while not linked into a bucket (fired, or free).
    due: u64,
    prev: u32,
    next: u32,
}

/// One connection's idle check: a slot in the shared wheel. 16 bytes inline.
#[derive(Debug)]
pub(crate) struct IdleTimer {
    /// Slot index + 1 (so that `Option<IdleTimer>` costs nothing more).
    slot: NonZeroU32,
    /// The tick it fires at.
    due: u32,
    /// `Waker::data` of the waker the wheel holds: a poll from another task (a moved or
    /// split connection) re-registers; a poll from the same task does not take the lock.
    waker_id: usize,
}

fn wheel() -> &'static Wheel {
    static WHEEL: OnceLock<Wheel> = OnceLock::new();
    WHEEL.get_or_init(|| Wheel {
        start: Instant::now(),
        now: AtomicU64::new(0),
        inner: Mutex::new(Inner::default()),
        changed: Condvar::new(),
        changed_task: tokio::sync::Notify::new(),
    })
}

/// Turns the process's idle-timeout wheel from the calling task until the task is
/// dropped, instead of from a thread of its own.
///
/// Call it (spawn it) before serving: it returns at once, doing nothing, if the thread
/// already turns the wheel because a connection armed its idle timer first. Every
/// connection of the process, on any runtime, is then timed by this task, so it must run
/// on a runtime that lives as long as they do; when it is dropped with timers still
/// armed (its runtime shut down), the thread takes over. `hybi serve` spawns it: a
/// process with one thread spends about 1% less CPU per small message (docs/benchmarks.md,
/// "one thread").
///
/// ```no_run
/// # async fn f() {
/// tokio::spawn(hybi::drive_idle_timers());
/// # }
/// ```
pub async fn drive_idle_timers() {
    let wheel = wheel();
    {
        let mut inner = wheel.lock();
        if inner.driver != Driver::None {
            return;
        }
        inner.driver = Driver::Task;
    }
    /// Hands the wheel to the thread if the task is dropped while timers are armed.
    struct HandBack(&'static Wheel);
    impl Drop for HandBack {
        fn drop(&mut self) {
            let mut inner = self.0.lock();
            inner.driver = Driver::None;
            if !inner.buckets.is_empty() {
                self.0.start_thread(&mut inner);
            }
        }
    }
    let _hand_back = HandBack(wheel);
    let mut woken = Vec::new();
    loop {
        // The guard is dropped here, before any await.
        let next = {
            let (_inner, next) = wheel.turn(&mut woken);
            next
        };
        // An earlier timer armed from here on stores a permit in `changed_task`, so the
        // `notified()` below returns at once: no wake-up is lost between unlock and wait.
        match next {
            None => wheel.changed_task.notified().await,
            Some(due) => {
                let at = tokio::time::Instant::from_std(wheel.instant_of(due));
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = wheel.changed_task.notified() => {}
                }
            }
        }
    }
}

impl Wheel {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the lists half-linked (no code
        // in the critical sections panics), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn tick_of(&self, at: Instant) -> u64 {
        (at.saturating_duration_since(self.start).as_nanos() / TICK.as_nanos()) as u64
    }

    fn instant_of(&self, tick: u64) -> Instant {
        self.start + TICK.saturating_mul(u32::try_from(tick).unwrap_or(u32::MAX))
    }

    /// Makes sure something turns the wheel; false if nothing can (no thread available).
    fn ensure_driver(&'static self, inner: &mut Inner) -> bool {
        if inner.driver == Driver::None {
            self.start_thread(inner);
        }
        inner.driver != Driver::Unavailable
    }

    fn start_thread(&'static self, inner: &mut Inner) {
        inner.driver = match std::thread::Builder::new()
            .name("hybi-idle".into())
            .spawn(move || self.run())
        {
            Ok(_) => Driver::Thread,
            Err(e) => {
                tracing::warn!("no idle-timer thread ({e}); one timer per connection instead");
                Driver::Unavailable
            }
        };
    }

    /// Wakes every timer due by now; returns the lock and the tick to sleep until (`None`:
    /// until a timer is armed), recorded in `sleeping_until` under that same lock.
    fn turn(&self, woken: &mut Vec<Waker>) -> (MutexGuard<'_, Inner>, Option<u64>) {
        loop {
            let mut inner = self.lock();
            let now = self.tick_of(Instant::now());
            while let Some((&due, &head)) = inner.buckets.first_key_value() {
                if due > now {
                    break;
                }
                inner.buckets.pop_first();
                let mut at = head;
                while at != NIL {
                    let slot = &mut inner.slots[at as usize];
                    slot.due = 0;
                    slot.prev = NIL;
                    at = std::mem::replace(&mut slot.next, NIL);
                    woken.extend(slot.waker.take());
                }
            }
            // Published before the wake-ups: a woken connection sees itself due.
            self.now.store(now, Ordering::Release);
            if !woken.is_empty() {
                drop(inner);
                woken.drain(..).for_each(Waker::wake);
                continue;
            }
            let next = inner.buckets.first_key_value().map(|(&due, _)| due);
            inner.sleeping_until = next;
            return (inner, next);
        }
    }

    fn run(&self) {
        let mut woken = Vec::new();
        loop {
            let (inner, next) = self.turn(&mut woken);
            // The guard comes back only to be dropped: `turn` locks again.
            match next {
                None => drop(self.changed.wait(inner)),
                Some(due) => {
                    let wait = self
                        .instant_of(due)
                        .saturating_duration_since(Instant::now());
                    drop(self.changed.wait_timeout(inner, wait));
                }
            }
        }
    }
}

impl Inner {
    fn link(&mut self, idx: u32, due: u64) {
        let head = self.buckets.insert(due, idx).unwrap_or(NIL);
        if head != NIL {
            self.slots[head as usize].prev = idx;
        }
        let slot = &mut self.slots[idx as usize];
        slot.due = due;
        slot.prev = NIL;
        slot.next = head;
    }

    fn unlink(&mut self, idx: u32) {
        let Slot {
            due, prev, next, ..
        } = self.slots[idx as usize];
        if due == 0 {
            return;
        }
        if prev == NIL {
            if next == NIL {
                self.buckets.remove(&due);
            } else {
                self.buckets.insert(due, next);
            }
        } else {
            self.slots[prev as usize].next = next;
        }
        if next != NIL {
            self.slots[next as usize].prev = prev;
        }
        let slot = &mut self.slots[idx as usize];
        slot.due = 0;
        slot.prev = NIL;
        slot.next = NIL;
    }
}

impl IdleTimer {
    /// A timer firing `after` from now that wakes `waker`; `None` if nothing can turn the
    /// shared wheel (see [`Driver::Unavailable`]).
    pub(crate) fn arm(after: Duration, waker: &Waker) -> Option<IdleTimer> {
        let wheel = wheel();
        let mut inner = wheel.lock();
        if !wheel.ensure_driver(&mut inner) {
            return None;
        }
        let idx = match inner.free {
            Some(idx) => {
                inner.free = match inner.slots[idx as usize].next {
                    NIL => None,
                    next => Some(next),
                };
                idx
            }
            None => {
                // u32::MAX - 1 slots: beyond any file-descriptor limit.
                let idx = u32::try_from(inner.slots.len())
                    .ok()
                    .filter(|&i| i < NIL - 1)?;
                inner.slots.push(Slot {
                    waker: None,
                    due: 0,
                    prev: NIL,
                    next: NIL,
                });
                idx
            }
        };
        let mut timer = IdleTimer {
            slot: NonZeroU32::new(idx + 1).expect("idx < u32::MAX - 1"),
            due: 0,
            waker_id: 0,
        };
        timer.link(wheel, &mut inner, after, waker);
        Some(timer)
    }

    /// Fires again `after` from now (after [`IdleTimer::is_due`] said so).
    pub(crate) fn rearm(&mut self, after: Duration, waker: &Waker) {
        let wheel = wheel();
        let mut inner = wheel.lock();
        inner.unlink(self.index());
        self.link(wheel, &mut inner, after, waker);
    }

    /// Whether the tick this timer was armed for has come. When it has not, makes sure
    /// the wheel wakes `waker`, the current task's.
    #[inline]
    pub(crate) fn is_due(&mut self, waker: &Waker) -> bool {
        let wheel = wheel();
        if wheel.now.load(Ordering::Acquire) >= u64::from(self.due) {
            return true;
        }
        if waker.data() as usize != self.waker_id {
            let mut inner = wheel.lock();
            let slot = &mut inner.slots[self.index() as usize];
            if slot.due != 0 {
                slot.waker = Some(waker.clone());
                self.waker_id = waker.data() as usize;
            }
        }
        false
    }

    fn index(&self) -> u32 {
        self.slot.get() - 1
    }

    fn link(&mut self, wheel: &Wheel, inner: &mut Inner, after: Duration, waker: &Waker) {
        // `now` is somewhere inside its tick: one more tick than `after` rounds up to
        // makes the timer fire between `after` and `after + TICK` from now, never early.
        let ticks = after.as_nanos().div_ceil(TICK.as_nanos()) + 1;
        let due = (wheel.tick_of(Instant::now()) + ticks as u64)
            .max(wheel.now.load(Ordering::Acquire) + 1)
            .min(u64::from(u32::MAX));
        let idx = self.index();
        inner.link(idx, due);
        inner.slots[idx as usize].waker = Some(waker.clone());
        self.due = due as u32;
        self.waker_id = waker.data() as usize;
        if inner.sleeping_until.is_none_or(|planned| due < planned) {
            inner.sleeping_until = Some(due);
            match inner.driver {
                Driver::Task => wheel.changed_task.notify_one(),
                _ => wheel.changed.notify_one(),
            }
        }
    }
}

impl Drop for IdleTimer {
    fn drop(&mut self) {
        let wheel = wheel();
        let mut inner = wheel.lock();
        let idx = self.index();
        inner.unlink(idx);
        let free = inner.free.unwrap_or(NIL);
        let slot = &mut inner.slots[idx as usize];
        slot.waker = None;
        slot.next = free;
        inner.free = Some(idx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The wheel is per process and its free list is shared: a test arming a timer while
    /// another checks which slot it reuses would take that slot. One test at a time.
    fn serial() -> MutexGuard<'static, ()> {
        static SERIAL: Mutex<()> = Mutex::new(());
        SERIAL.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn counter() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }

    fn wait_for(cond: impl Fn() -> bool) {
        let until = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < until, "timed out");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn fires_once_after_its_duration_and_wakes_the_task() {
        let _serial = serial();
        let (count, waker) = counter();
        let started = Instant::now();
        let mut timer = IdleTimer::arm(Duration::from_millis(300), &waker).unwrap();
        assert!(!timer.is_due(&waker));
        wait_for(|| count.0.load(Ordering::SeqCst) == 1);
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(timer.is_due(&waker));
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "fires once per arming");
        timer.rearm(Duration::from_millis(100), &waker);
        assert!(!timer.is_due(&waker));
        wait_for(|| count.0.load(Ordering::SeqCst) == 2);
        assert!(timer.is_due(&waker));
    }

    #[test]
    fn a_dropped_timer_never_fires_and_its_slot_is_reused() {
        let _serial = serial();
        let (count, waker) = counter();
        let timer = IdleTimer::arm(Duration::from_millis(100), &waker).unwrap();
        let slot = timer.slot;
        drop(timer);
        // Others armed around it, sharing its bucket, still fire.
        let (other_count, other) = counter();
        let mut timers: Vec<_> = (0..50)
            .map(|_| IdleTimer::arm(Duration::from_millis(100), &other).unwrap())
            .collect();
        assert!(timers.iter().any(|t| t.slot == slot), "freed slot reused");
        // Drop every other one: unlinking from the middle of a bucket's list.
        let kept: Vec<_> = timers
            .drain(..)
            .enumerate()
            .filter_map(|(i, t)| (i % 2 == 0).then_some(t))
            .collect();
        wait_for(|| other_count.0.load(Ordering::SeqCst) == kept.len());
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        assert_eq!(other_count.0.load(Ordering::SeqCst), kept.len());
    }

    #[test]
    fn a_poll_from_another_task_moves_the_wakeup_there() {
        let _serial = serial();
        let (first, first_waker) = counter();
        let (second, second_waker) = counter();
        let mut timer = IdleTimer::arm(Duration::from_millis(200), &first_waker).unwrap();
        assert!(!timer.is_due(&second_waker));
        wait_for(|| second.0.load(Ordering::SeqCst) == 1);
        assert_eq!(first.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn an_earlier_timer_wakes_a_sleeping_wheel() {
        let _serial = serial();
        let (late, late_waker) = counter();
        let _late = IdleTimer::arm(Duration::from_secs(3600), &late_waker).unwrap();
        let (early, early_waker) = counter();
        let started = Instant::now();
        let _early = IdleTimer::arm(Duration::from_millis(150), &early_waker).unwrap();
        wait_for(|| early.0.load(Ordering::SeqCst) == 1);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(late.0.load(Ordering::SeqCst), 0);
    }
}
