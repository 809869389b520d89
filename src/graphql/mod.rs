//! The Apollo Federation v2 subgraph: `Agent`, `Vm` and `Storage` entities keyed by `id`, their
//! `@shareable` canonical fields, the owned `vsphere` facets, and `vsphere*` root fields.
//! Thin views over the inventory snapshot; see `../shared/DESIGN.md` section 6.
//!
//! One module per domain, each with its root fields merged into [`Query`]: [`hosts`], [`vms`],
//! [`datastores`] (each also its entity's object, facet and federation lookup), [`alerts`],
//! [`connections`], [`platform`], [`incidents`], [`live`] (subscriptions), and [`lookup`] (any
//! resource by id: the one
//! route from an id to a node). Domains import down only: the entity handles are in [`nodes`],
//! the shared shapes in [`common`], [`lists`], [`select`]
//! (with [`order`] for `orderBy`). [`schema`] builds the schemas.
//! Object types that read the snapshot resolve through [`inline`], one future per object.

pub mod activity;
pub mod alerts;
pub mod common;
pub mod connections;
pub mod datastores;
pub mod enums;
pub mod errors;
pub mod filters;
pub mod health;
pub mod hit;
pub mod hosts;
pub mod incidents;
pub mod inline;
pub mod limits;
pub mod lists;
pub mod live;
pub mod loader;
pub mod lookup;
pub mod nodes;
pub mod order;
pub mod pack;
pub mod paging;
pub mod platform;
pub mod reuse;
pub mod schema;
pub mod select;
pub mod vm_guest;
pub mod vms;

pub use schema::{sdl, AssistantSchema, Query, SchemaDeps, Schemas, VsphereSchema};
pub use schema::{MAX_COMPLEXITY, MAX_DEPTH};
