//! The `pulse-vsphere` binary.

use clap::Parser;

// The collector rebuilds a snapshot of 45,000 VMs on every change burst; glibc's per-thread
// arenas keep the freed ones, mimalloc returns them (docs/performance.md, collector at max).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = pulse_vsphere::cli::Cli::parse();
    let code = pulse_vsphere::cli::run(cli).await;
    std::process::exit(code);
}
