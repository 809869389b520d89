//! `proof`: the phase-1 proof run (docs/proof.md), its record written to a directory and,
//! when asked, attached to the operator's store.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::VcenterArgs;
use crate::proof::{self, ProofOptions};

/// `proof` options.
#[derive(Debug, Args)]
pub struct ProofArgs {
    #[command(flatten)]
    pub vcenter: VcenterArgs,
    /// Directory the record (`vmware-vcenter-phase1-proof-<date>.md` and `.json`) is written to.
    #[arg(long)]
    pub out: PathBuf,
    /// Also attach the record to the store of this configuration file (or of the default data
    /// directory without `--config`): `vspherePlatform` then reports it.
    #[arg(long)]
    pub record_into_store: bool,
    /// The configuration file whose store `--record-into-store` writes to.
    #[arg(long, env = crate::config::CONFIG_ENV, requires = "record_into_store")]
    pub config: Option<PathBuf>,
    /// Seconds to wait for the first full sync and the first metrics pass.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(10..=7200))]
    pub wait_seconds: u64,
}

/// Runs the proof: exit 0 every scenario passed, 1 some failed, 2 it could not run.
pub async fn proof(args: ProofArgs) -> i32 {
    let options = args
        .vcenter
        .to_config()
        .and_then(|client| Ok((client, args.vcenter.to_input()?)));
    let (client, input) = match options {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    // The store is opened before the run so a bad one stops it before vCenter is touched.
    let store = if args.record_into_store {
        match open_store(args.config.as_deref()).await {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        }
    } else {
        None
    };
    let record = proof::run(
        ProofOptions {
            client,
            input,
            out: args.out.clone(),
            wait: Duration::from_secs(args.wait_seconds),
        },
        super::shutdown_signal(),
    )
    .await;
    let mut code = record.verdict.exit_code();
    match proof::write(&record, &args.out) {
        Ok(files) => {
            for f in files {
                println!("record: {}", f.display());
            }
        }
        Err(e) => {
            eprintln!(
                "error: cannot write the record to {}: {e}",
                args.out.display()
            );
            code = 2;
        }
    }
    if let Some(store) = store {
        match proof::attach(&store, &record).await {
            Ok(()) => println!("record attached to the {} store", store.backend()),
            Err(e) => {
                eprintln!("error: {e}");
                code = 2;
            }
        }
        store.close().await;
    }
    for s in &record.scenarios {
        println!(
            "{} {:?}{}",
            s.id,
            s.status,
            s.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
    }
    println!(
        "verdict: {}{}; simulated: {}; calls: {}",
        record.verdict.as_str(),
        record
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default(),
        record.simulated,
        proof::method_summary(&record)
    );
    code
}

async fn open_store(config: Option<&std::path::Path>) -> Result<crate::store::Store, String> {
    let cfg = match config {
        Some(path) => crate::config::ServiceConfig::load(path),
        None => crate::config::ServiceConfig::parse(""),
    }
    .map_err(|e| e.to_string())?;
    let settings = cfg.store.settings().map_err(|e| e.to_string())?;
    crate::store::Store::open(&settings.location)
        .await
        .map_err(|e| e.to_string())
}
