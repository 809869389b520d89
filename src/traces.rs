//! Logs and traces of the process: log lines on stderr (text or JSON, level from `RUST_LOG`),
//! and, when an OTLP endpoint is configured, the service's spans exported over OTLP/HTTP.
//!
//! The subscriber is process-wide by nature, so this is the one global of the crate, installed
//! by `init` when the binary starts.
//! Spans come from where the work happens (`graphql.request` in the server, `dataloader.batch`
//! in the loaders, `vcenter_call` in the transport, `store.write` in the store); without an
//! exporter they cost the fmt layer's bookkeeping only.

use std::sync::{Mutex, OnceLock};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::{Deserialize, Serialize};
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// The standard OpenTelemetry variable: an OTLP/HTTP base URL (`/v1/traces` is appended).
pub const OTLP_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// `text` (default) or `json`.
pub const LOG_FORMAT_ENV: &str = "PULSE_VSPHERE_LOG_FORMAT";

/// The `[telemetry]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// OTLP/HTTP base URL of a collector (e.g. `http://otel-collector:4318`); traces are off
    /// when neither this nor `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported resource.
    #[serde(default)]
    pub service_name: Option<String>,
}

impl TelemetrySettings {
    /// Checks the endpoint is an http(s) URL.
    ///
    /// # Errors
    /// A message naming the key.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(e) = &self.otlp_endpoint {
            let ok = url::Url::parse(e)
                .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .unwrap_or(false);
            if !ok {
                return Err(format!(
                    "telemetry.otlp_endpoint: {e:?} is not an http(s) URL such as http://otel-collector:4318"
                ));
            }
        }
        Ok(())
    }

    /// The traces URL to export to: the file's endpoint, else the environment's; None when off.
    fn traces_url(&self) -> Option<String> {
        let base = self
            .otlp_endpoint
            .clone()
            .or_else(|| std::env::var(OTLP_ENDPOINT_ENV).ok())
            .filter(|e| !e.trim().is_empty())?;
        let base = base.trim_end_matches('/');
        Some(if base.ends_with("/v1/traces") {
            base.to_string()
        } else {
            format!("{base}/v1/traces")
        })
    }
}

/// Why tracing could not start.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The exporter could not be built from the endpoint.
    #[error("telemetry_invalid: cannot export traces to {url}: {reason}")]
    Exporter { url: String, reason: String },
}

static PROVIDER: OnceLock<Mutex<Option<SdkTracerProvider>>> = OnceLock::new();

/// Installs the process's subscriber, once: log lines on stderr in the format
/// `PULSE_VSPHERE_LOG_FORMAT` names, filtered by `RUST_LOG` (default `info`), and the span
/// exporter when `settings` or the environment name an endpoint. It runs before anything else
/// (the command line's config file is read for its `[telemetry]` table alone), because the
/// exporter has to be part of the subscriber from the start: spans cannot be re-parented onto
/// the gateway's trace through a layer swapped in later.
pub fn init(settings: &TelemetrySettings) {
    if PROVIDER.get().is_some() {
        return;
    }
    let exporter = exporter(settings);
    let (provider, otel, outcome) = match exporter {
        Ok(Some((provider, url))) => {
            let tracer = provider.tracer("pulse-vsphere");
            let layer = tracing_opentelemetry::layer().with_tracer(tracer);
            (Some(provider), Some(layer), Ok(Some(url)))
        }
        Ok(None) => (None, None, Ok(None)),
        Err(e) => (None, None, Err(e)),
    };
    // Only the service's own spans: libraries' (hyper, sqlx, reqwest) would multiply the volume
    // without naming anything an operator can act on.
    let otel = otel.with_filter(Targets::new().with_target("pulse_vsphere", LevelFilter::INFO));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var(LOG_FORMAT_ENV).is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if json {
        fmt.json().with_current_span(false).boxed()
    } else {
        fmt.boxed()
    };
    let installed = tracing_subscriber::registry()
        .with(otel)
        .with(fmt.with_filter(filter))
        .try_init()
        .is_ok();
    let _ = PROVIDER.set(Mutex::new(provider.filter(|_| installed)));
    match outcome {
        Ok(Some(url)) => tracing::info!(%url, "exporting traces over OTLP/HTTP"),
        Ok(None) => {}
        // A collector that cannot be configured is not a reason to stop serving.
        Err(e) => tracing::warn!(error = %e, "traces are off"),
    }
}

/// The tracer provider exporting to the configured endpoint, and its URL; None when off.
fn exporter(
    settings: &TelemetrySettings,
) -> Result<Option<(SdkTracerProvider, String)>, TraceError> {
    let Some(url) = settings.traces_url() else {
        return Ok(None);
    };
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(url.clone())
        .build()
        .map_err(|e| TraceError::Exporter {
            url: url.clone(),
            reason: e.to_string(),
        })?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(
            settings
                .service_name
                .clone()
                .unwrap_or_else(|| "pulse-vsphere".into()),
        )
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    Ok(Some((provider, url)))
}

/// Sends the spans still buffered and stops the exporter (at shutdown).
pub fn shutdown() {
    let provider = PROVIDER
        .get()
        .and_then(|p| p.lock().ok().and_then(|mut p| p.take()));
    if let Some(p) = provider {
        // The exporter's HTTP client is blocking: keep it off the runtime's threads.
        let _ = std::thread::spawn(move || p.shutdown()).join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_url_appends_the_signal_path_once() {
        let s = |e: &str| TelemetrySettings {
            otlp_endpoint: Some(e.into()),
            service_name: None,
        };
        assert_eq!(
            s("http://c:4318").traces_url().as_deref(),
            Some("http://c:4318/v1/traces")
        );
        assert_eq!(
            s("http://c:4318/").traces_url().as_deref(),
            Some("http://c:4318/v1/traces")
        );
        assert_eq!(
            s("http://c:4318/v1/traces").traces_url().as_deref(),
            Some("http://c:4318/v1/traces")
        );
        assert!(s("c:4318").validate().is_err());
        assert!(s("ftp://c").validate().is_err());
        assert!(s("https://c.example:4318").validate().is_ok());
    }
}
