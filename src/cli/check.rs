//! `check`: the onboarding connection test from the command line, and the options naming one
//! vCenter and how to trust and log in to it (shared with `proof`).

use std::path::PathBuf;

use clap::Args;

/// `check` options.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub vcenter: VcenterArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One vCenter and how to trust and log in to it (`check`, `proof`).
#[derive(Debug, Args)]
pub struct VcenterArgs {
    /// vCenter URL, `https://HOST[:PORT]`.
    #[arg(long)]
    pub url: String,
    /// vCenter user, e.g. `monitor@vsphere.local`.
    #[arg(long)]
    pub username: String,
    /// Name of the environment variable holding the password (never on the command line).
    #[arg(long)]
    pub password_env: String,
    /// Trust exactly the certificate with this SHA-256 thumbprint.
    #[arg(long, conflicts_with_all = ["ca_file", "insecure"])]
    pub tls_thumbprint: Option<String>,
    /// Trust certificates issued by the CA in this PEM file (e.g. the VMCA root).
    #[arg(long, conflicts_with = "insecure")]
    pub ca_file: Option<PathBuf>,
    /// Do not verify the certificate at all.
    #[arg(long)]
    pub insecure: bool,
}

impl VcenterArgs {
    fn password(&self) -> Result<String, String> {
        std::env::var(&self.password_env)
            .map_err(|_| format!("environment variable {} is not set", self.password_env))
    }

    /// The client configuration these options describe.
    ///
    /// # Errors
    /// A message when the password variable is unset or the CA file unreadable.
    pub fn to_config(&self) -> Result<crate::vcenter::ClientConfig, String> {
        use crate::vcenter::{ClientConfig, Secret, TlsMode};
        let password = self.password()?;
        let url = url::Url::parse(&self.url).map_err(|e| format!("--url: {e}"))?;
        // No user, password, path or query: the record and the saved connection name the
        // vCenter by host and port only.
        let bare = url.username().is_empty()
            && url.password().is_none()
            && url.path() == "/"
            && url.query().is_none();
        if url.scheme() != "https" || url.host_str().is_none() || !bare {
            return Err("--url must be https://HOST[:PORT]".into());
        }
        let tls = TlsMode::from_options(
            self.tls_thumbprint.as_deref(),
            self.ca_file.as_deref(),
            self.insecure,
        )
        .map_err(|e| {
            let f = self.ca_file.as_deref().unwrap_or(std::path::Path::new(""));
            format!("cannot read {}: {e}", f.display())
        })?;
        Ok(ClientConfig::new(
            url.as_str(),
            &self.username,
            Secret::new(password),
            tls,
        ))
    }

    /// The same connection as onboarding input (`VsphereConnectionInput`), password included.
    ///
    /// # Errors
    /// As `to_config`.
    pub fn to_input(&self) -> Result<serde_json::Value, String> {
        let url = url::Url::parse(&self.url).map_err(|e| format!("--url: {e}"))?;
        let (mode, thumbprint, pem) = match (&self.tls_thumbprint, &self.ca_file, self.insecure) {
            (Some(t), _, _) => ("PINNED", Some(t.clone()), None),
            (None, Some(f), _) => (
                "CUSTOM_CA",
                None,
                Some(
                    std::fs::read_to_string(f)
                        .map_err(|e| format!("cannot read {}: {e}", f.display()))?,
                ),
            ),
            (None, None, true) => ("INSECURE", None, None),
            (None, None, false) => ("VERIFY", None, None),
        };
        Ok(serde_json::json!({
            "name": format!("proof {}", url.host_str().unwrap_or("vcenter")),
            "host": url.host_str(),
            "port": url.port_or_known_default(),
            "username": self.username,
            "password": self.password()?,
            "tlsMode": mode,
            "tlsThumbprint": thumbprint,
            "tlsCaPem": pem,
        }))
    }
}

/// Runs the connection test and prints its report.
pub async fn check(args: CheckArgs) -> i32 {
    let cfg = match args.vcenter.to_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let report = crate::vcenter::check::run_check(cfg).await;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print!("{}", report.render());
    }
    report.verdict.exit_code()
}
