//! Where GraphQL executions run: a bounded number at once (a semaphore, as mini-redis bounds
//! its connections), each on a blocking-pool thread rather than on the runtime's workers, each
//! within a time cap, each stopped when its client goes away.
//!
//! The library parses, validates and resolves synchronously between its await points; on the
//! workers that would hold the threads that answer `/healthz` and accept connections (two
//! requests once left `/healthz` unanswered for 8-20 s). On a blocking-pool thread the same
//! work only competes for CPU, which the OS shares; the permit bounds how many such threads
//! exist, and is held until the work has really stopped.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, Semaphore};
use tokio::time::Instant;

/// Why an execution did not produce a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Overrun {
    /// The time cap passed, waiting for a slot or running.
    #[error("the request did not finish within {0:?}")]
    Timeout(Duration),
    /// The execution thread ended without a result (a panic in a resolver).
    #[error("the execution ended without a result")]
    Lost,
}

/// The execution slots and their time cap.
#[derive(Debug)]
pub struct Gate {
    slots: Arc<Semaphore>,
    timeout: Duration,
    /// Executions running on a thread now (`/metrics`).
    running: Arc<AtomicUsize>,
}

impl Gate {
    /// `slots` executions at once, each within `timeout` (waiting for a slot included).
    pub fn new(slots: usize, timeout: Duration) -> Gate {
        Gate {
            slots: Arc::new(Semaphore::new(slots.max(1))),
            timeout,
            running: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Runs `work` on a blocking-pool thread once a slot is free and returns its output.
    /// Dropping the returned future (the client went away) stops `work` at its next await.
    ///
    /// # Errors
    /// [`Overrun::Timeout`] when the time cap passes first; [`Overrun::Lost`] when `work`
    /// panicked.
    pub async fn run<T, F>(&self, work: F) -> Result<T, Overrun>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let deadline = Instant::now() + self.timeout;
        let overrun = Overrun::Timeout(self.timeout);
        let permit = tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| overrun)?
            .map_err(|_| Overrun::Lost)?;
        // Dropped with this future: the execution sees the channel close and stops.
        let (_client_gone, gone) = oneshot::channel::<()>();
        let handle = tokio::runtime::Handle::current();
        let running = Running::start(&self.running);
        let task = tokio::task::spawn_blocking(move || {
            let _held = (permit, running);
            handle.block_on(async move {
                tokio::select! {
                    out = tokio::time::timeout_at(deadline, work) => out.ok(),
                    _ = gone => None,
                }
            })
        });
        // The execution checks the deadline only at its await points; answer the client on
        // time even if it is inside a long synchronous step (it stops at the next one).
        match tokio::time::timeout_at(deadline + Duration::from_millis(100), task).await {
            Ok(Ok(Some(out))) => Ok(out),
            Ok(Ok(None)) | Err(_) => Err(overrun),
            Ok(Err(_)) => Err(Overrun::Lost),
        }
    }

    /// Slots free now.
    pub fn available(&self) -> usize {
        self.slots.available_permits()
    }

    /// Executions running now, including any whose client already got a `TIMEOUT` and that
    /// have not reached their next await yet.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }
}

/// Counts one running execution until dropped.
struct Running(Arc<AtomicUsize>);

impl Running {
    fn start(n: &Arc<AtomicUsize>) -> Running {
        n.fetch_add(1, Ordering::Relaxed);
        Running(n.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_off_the_workers_within_the_cap() {
        let gate = Gate::new(1, Duration::from_millis(300));
        assert_eq!(gate.run(async { 7 }).await, Ok(7));
        let slow = gate.run(tokio::time::sleep(Duration::from_secs(5))).await;
        assert_eq!(slow, Err(Overrun::Timeout(Duration::from_millis(300))));
        // The slot came back once the timed-out work stopped.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!((gate.available(), gate.running()), (1, 0));
    }

    #[tokio::test]
    async fn a_dropped_request_stops_its_work_and_frees_its_slot() {
        let gate = Arc::new(Gate::new(1, Duration::from_secs(30)));
        let g = gate.clone();
        let run = tokio::spawn(async move { g.run(std::future::pending::<()>()).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(gate.available(), 0);
        run.abort();
        assert_eq!(gate.running(), 1);
        let freed = async {
            while gate.available() == 0 || gate.running() > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), freed)
            .await
            .expect("the slot is freed");
    }
}
