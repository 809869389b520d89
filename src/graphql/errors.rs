//! GraphQL errors with stable `extensions.code` values (DESIGN section 6).

use async_graphql::{Error, ErrorExtensions};

/// Bad arguments: invalid cursor, page size out of range, malformed id.
pub fn bad_user_input(message: impl Into<String>) -> Error {
    Error::new(message.into()).extend_with(|_, e| e.set("code", "BAD_USER_INPUT"))
}

/// The store could not answer a read.
pub fn store(e: &crate::store::StoreError) -> Error {
    Error::new(e.to_string()).extend_with(|_, x| x.set("code", "STORE_UNAVAILABLE"))
}

/// A vCenter failure of a given class, e.g. `VCENTER_TIMEOUT`.
pub fn vcenter(class: &str, message: impl Into<String>) -> Error {
    let code = format!("VCENTER_{}", class.to_ascii_uppercase());
    Error::new(message.into()).extend_with(move |_, e| e.set("code", code.clone()))
}

/// An on-demand vCenter read that failed: vCenter's failure class as the code, or
/// `ONDEMAND_BUDGET_EXCEEDED` when the connection's budget refused it before any call.
pub fn on_demand(e: &crate::ondemand::ReadError) -> Error {
    use crate::ondemand::ReadError;
    match e {
        ReadError::Vcenter(e) => vcenter(e.class.as_str(), e.message.clone()),
        ReadError::OverBudget(o) => {
            let o = o.clone();
            Error::new(o.to_string()).extend_with(move |_, e| {
                e.set("code", "ONDEMAND_BUDGET_EXCEEDED");
                e.set("neededCalls", o.needed);
                e.set("availableCalls", o.available);
                e.set("burst", o.burst);
                if let Some(after) = o.retry_after {
                    e.set(
                        "retryAfterSeconds",
                        (after.as_secs_f64() * 10.0).ceil() / 10.0,
                    );
                }
            })
        }
    }
}
