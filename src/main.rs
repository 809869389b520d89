//! The `pulse-vsphere` binary.

use clap::Parser;

// The collector rebuilds a snapshot of 45,000 VMs on every change burst; glibc's per-thread
// arenas keep the freed ones, mimalloc returns them (docs/performance.md, collector at max).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let cli = pulse_vsphere::cli::Cli::parse();
    pulse_vsphere::traces::init(&pulse_vsphere::cli::telemetry_settings(&cli));
    let code = pulse_vsphere::cli::run(cli).await;
    std::process::exit(code);
}
