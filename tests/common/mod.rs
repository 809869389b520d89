//! Helpers shared by integration tests: an HTTPS client for the self-signed simulator.
#![allow(dead_code)]

use std::time::Duration;

/// A client that accepts the simulator's self-signed certificate (tests only).
pub fn insecure_client() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}
