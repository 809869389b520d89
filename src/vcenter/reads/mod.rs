//! Typed reads on top of the client, one module per vCenter manager.

pub mod alarms;
pub mod events;
pub mod guest;
pub mod perf;
pub mod privileges;
pub mod properties;
pub mod updates;
