//! GraphQL errors with stable `extensions.code` values (DESIGN section 6).

use async_graphql::{Error, ErrorExtensions};

/// Bad arguments: invalid cursor, page size out of range, malformed id.
pub fn bad_user_input(message: impl Into<String>) -> Error {
    Error::new(message.into()).extend_with(|_, e| e.set("code", "BAD_USER_INPUT"))
}

/// A vCenter failure of a given class, e.g. `VCENTER_TIMEOUT`.
pub fn vcenter(class: &str, message: impl Into<String>) -> Error {
    let code = format!("VCENTER_{}", class.to_ascii_uppercase());
    Error::new(message.into()).extend_with(move |_, e| e.set("code", code.clone()))
}

/// An on-demand vCenter read that failed, with its failure class as the code.
pub fn on_demand(e: &crate::ondemand::ReadError) -> Error {
    vcenter(e.class.as_str(), e.message.clone())
}
