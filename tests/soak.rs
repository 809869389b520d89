//! The soak driver of `benches/soak.rs`, briefly: `pulse-vsphere serve` against
//! `pulse-vsphere simulate --profile medium` as their own processes, one cycle of the faults
//! with a healthy gap after each, and the same invariants (recovery, sessions, leaked session
//! objects, RSS growth, clean shutdown). The long run with `large` is `cargo bench --bench soak`.

use std::time::Duration;

#[path = "../benches/support/soak.rs"]
mod soak;

use soak::Fault;

/// One soak at a time: each runs a `medium` simulator and the service as processes, and two
/// at once on a 2-core machine measure each other rather than the service.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn soak(faults: &[Fault]) {
    let _one = ONE_AT_A_TIME.lock().await;
    let plan = soak::Plan {
        // `large` syncs in ~16 s in a debug build on the 2-core machine; every restart and
        // session fault resyncs, so `medium` keeps the run near two minutes.
        profile: "medium".into(),
        // One cycle, however fast the machine.
        duration: Duration::ZERO,
        changes_per_sec: 10,
        sample_every: Duration::from_secs(2),
        fault_for: Duration::from_secs(10),
        settle_for: Duration::from_secs(8),
        recover_within: Duration::from_secs(90),
        first_sync_within: Duration::from_secs(120),
        rss_growth_limit: 1.5,
        poll_interval_secs: 20,
        faults: faults.to_vec(),
    };
    let started = std::time::Instant::now();
    let outcome = soak::run(
        std::path::Path::new(env!("CARGO_BIN_EXE_pulse-vsphere")),
        &plan,
    )
    .await;
    println!(
        "{}\nsoak took {:.0} s",
        outcome.report,
        started.elapsed().as_secs_f64()
    );
    assert!(
        outcome.failures.is_empty(),
        "invariants failed:\n{}",
        outcome.report
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_expiry_restart_and_session_limit_keep_the_invariants() {
    soak(&[
        Fault::Latency,
        Fault::ExpireSessions,
        Fault::Restart,
        Fault::SessionLimit,
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_of_requests_failing_leaks_no_session_object() {
    soak(&[Fault::ErrorRate]).await;
}
