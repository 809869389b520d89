//! The Apollo Federation v2 subgraph: `Agent`, `Vm` and `Storage` entities keyed by `id`, their
//! `@shareable` canonical fields, the owned `vsphere` facets, and `vsphere*` root fields.
//! Thin views over the inventory snapshot; see `../shared/DESIGN.md` section 6.

pub mod activity;
pub mod alerts;
pub mod common;
pub mod connections;
pub mod datastores;
pub mod enums;
pub mod errors;
pub mod filters;
pub mod health;
pub mod hosts;
pub mod incidents;
pub mod limits;
pub mod lists;
pub mod loader;
pub mod lookup;
pub mod nodes;
pub mod pack;
pub mod paging;
pub mod platform;
pub mod schema;
pub mod select;
pub mod vms;

pub use schema::{sdl, AssistantSchema, Query, SchemaDeps, Schemas, VsphereSchema};
pub use schema::{MAX_COMPLEXITY, MAX_DEPTH};
