//! pulse-vsphere: the VMware vSphere subgraph of the Pulse monitoring graph.
//!
//! Layers (see `docs/architecture.md`), imports only point down this list:
//! `graphql` -> `collector`/`model` -> `vcenter` (transport). `simulator` is a
//! stand-alone vCenter used by tests, benchmarks and the demo mode.
#![forbid(unsafe_code)]
// axum handlers return `Result<_, Response>` by design; boxing every rejection buys nothing.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod cli;
pub mod collector;
pub mod config;
pub mod connections;
pub mod graphql;
pub mod inventory;
pub mod model;
pub mod ondemand;
pub mod proof;
pub mod server;
pub mod service;
pub mod simulator;
pub mod store;
pub mod telemetry;
pub mod traces;
pub mod vcenter;
