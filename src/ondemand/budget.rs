//! What one connection's on-demand reads may cost vCenter: a token bucket of calls (a sustained
//! rate and a burst, the most one request may spend) and a bound on calls in flight. A read
//! takes every call it needs from the bucket before it makes the first, so a request the
//! budget cannot pay for costs vCenter nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, SemaphorePermit};

/// The budget of each connection's on-demand reads (config `[ondemand]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetSettings {
    /// Calls per second, sustained.
    pub calls_per_second: u32,
    /// The bucket's size: the most calls one request (or a burst of them) may make. A request
    /// that needs more is refused whatever the bucket holds.
    pub burst: u32,
    /// Calls in flight at once; more wait their turn.
    pub concurrent_calls: u32,
}

impl Default for BudgetSettings {
    /// 20 calls/s and a burst of 200: a page of 120 VMs with their older events fits; 1,000
    /// calls a minute per connection is far below what a vCenter serves its own clients.
    /// 4 at once: vCenter's API front end queues beyond a few concurrent calls per session.
    fn default() -> Self {
        BudgetSettings {
            calls_per_second: 20,
            burst: 200,
            concurrent_calls: 4,
        }
    }
}

impl BudgetSettings {
    /// Checks the ranges.
    ///
    /// # Errors
    /// A message naming the field out of range.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=10_000).contains(&self.calls_per_second) {
            return Err("ondemand.calls_per_second must be between 1 and 10000".into());
        }
        if !(1..=100_000).contains(&self.burst) {
            return Err("ondemand.burst must be between 1 and 100000".into());
        }
        if !(1..=64).contains(&self.concurrent_calls) {
            return Err("ondemand.concurrent_calls must be between 1 and 64".into());
        }
        Ok(())
    }
}

/// A read the budget cannot pay for; no call was made.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("this request needs {needed} vCenter calls; the connection's on-demand budget has {available} now ({burst} at most, {per_second} per second){}", hint(.needed, .burst))]
pub struct OverBudget {
    pub needed: u32,
    pub available: u32,
    pub burst: u32,
    pub per_second: u32,
    /// When the bucket will hold `needed`; `None` when it never will (more than `burst`).
    pub retry_after: Option<Duration>,
}

fn hint(needed: &u32, burst: &u32) -> &'static str {
    if needed > burst {
        ": ask for fewer objects per request"
    } else {
        ": try again shortly"
    }
}

/// What `/metrics` shows of a budget.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetStatus {
    pub settings: BudgetSettings,
    /// Calls the bucket holds now.
    pub available: f64,
    pub in_flight: u64,
    /// Calls paid for since the connection started.
    pub calls: u64,
    /// Reads refused.
    pub refused: u64,
}

/// One connection's budget.
#[derive(Debug)]
pub struct Budget {
    settings: BudgetSettings,
    bucket: Mutex<Bucket>,
    slots: Semaphore,
    in_flight: AtomicU64,
    calls: AtomicU64,
    refused: AtomicU64,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A call in flight; frees its slot when dropped.
pub struct Slot<'a> {
    _permit: Option<SemaphorePermit<'a>>,
    in_flight: &'a AtomicU64,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Budget {
    pub fn new(settings: BudgetSettings) -> Budget {
        Budget {
            settings,
            bucket: Mutex::new(Bucket {
                tokens: f64::from(settings.burst),
                at: Instant::now(),
            }),
            slots: Semaphore::new(settings.concurrent_calls.max(1) as usize),
            in_flight: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    fn refill(&self, b: &mut Bucket, now: Instant) {
        let earned =
            now.duration_since(b.at).as_secs_f64() * f64::from(self.settings.calls_per_second);
        b.tokens = (b.tokens + earned).min(f64::from(self.settings.burst));
        b.at = now;
    }

    /// Takes `calls` from the bucket, all or none. Zero always succeeds.
    ///
    /// # Errors
    /// [`OverBudget`] when the bucket holds fewer (nothing is taken).
    pub fn take(&self, calls: u32) -> Result<(), OverBudget> {
        if calls == 0 {
            return Ok(());
        }
        let mut b = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        self.refill(&mut b, Instant::now());
        let need = f64::from(calls);
        if b.tokens >= need {
            b.tokens -= need;
            self.calls.fetch_add(u64::from(calls), Ordering::Relaxed);
            return Ok(());
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        let s = self.settings;
        Err(OverBudget {
            needed: calls,
            available: b.tokens.floor() as u32,
            burst: s.burst,
            per_second: s.calls_per_second,
            retry_after: (calls <= s.burst).then(|| {
                Duration::from_secs_f64((need - b.tokens) / f64::from(s.calls_per_second))
            }),
        })
    }

    /// Waits for a slot for one call (or a sequence of calls made one after another).
    pub async fn slot(&self) -> Slot<'_> {
        // Never closed, so a permit always comes.
        let permit = self.slots.acquire().await.ok();
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Slot {
            _permit: permit,
            in_flight: &self.in_flight,
        }
    }

    pub fn status(&self) -> BudgetStatus {
        let available = {
            let mut b = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
            self.refill(&mut b, Instant::now());
            b.tokens
        };
        BudgetStatus {
            settings: self.settings,
            available,
            in_flight: self.in_flight.load(Ordering::Relaxed),
            calls: self.calls.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(per_second: u32, burst: u32) -> Budget {
        Budget::new(BudgetSettings {
            calls_per_second: per_second,
            burst,
            concurrent_calls: 2,
        })
    }

    #[test]
    fn takes_all_or_nothing_and_says_when_to_come_back() {
        let b = budget(10, 100);
        b.take(60).expect("fits");
        let e = b.take(60).expect_err("40 left");
        assert_eq!((e.needed, e.available, e.burst), (60, 40, 100));
        let wait = e.retry_after.expect("fits later").as_secs_f64();
        assert!((1.9..=2.1).contains(&wait), "{wait}");
        // Nothing was taken by the refusal.
        b.take(40).expect("the 40 are still there");
        let s = b.status();
        assert_eq!((s.calls, s.refused), (100, 1));
    }

    #[test]
    fn more_than_the_burst_is_never_paid_for() {
        let b = budget(10, 100);
        let e = b.take(101).expect_err("over the burst");
        assert_eq!(e.retry_after, None);
        assert!(e.to_string().contains("ask for fewer objects"), "{e}");
        assert_eq!(b.status().available.floor() as u32, 100);
    }

    #[test]
    fn the_bucket_refills_at_the_rate_up_to_the_burst() {
        let b = budget(1_000, 50);
        b.take(50).expect("full");
        std::thread::sleep(Duration::from_millis(30));
        let a = b.status().available;
        assert!((20.0..=50.0).contains(&a), "{a}");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(b.status().available, 50.0);
    }

    #[tokio::test]
    async fn slots_bound_the_calls_in_flight() {
        let b = budget(10, 10);
        let one = b.slot().await;
        let _two = b.slot().await;
        assert_eq!(b.status().in_flight, 2);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), b.slot())
                .await
                .is_err(),
            "a third waits"
        );
        drop(one);
        let _three = tokio::time::timeout(Duration::from_millis(50), b.slot())
            .await
            .expect("a slot freed");
        assert_eq!(b.status().in_flight, 2);
    }
}
