//! Roles and the authenticated caller.

use std::fmt;

/// What a caller may do, ordered by privilege so `max` picks the strongest of several.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Queries only; the schema it is served has no mutation type and hides connection usernames.
    Assistant,
    /// Every query.
    Reader,
    /// Everything, including the onboarding mutations.
    Admin,
}

impl Role {
    /// The lowercase name used in config files and JWT role claims.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Assistant => "assistant",
            Role::Reader => "reader",
            Role::Admin => "admin",
        }
    }

    /// Reads a role name from a JWT claim. Identity providers differ in case conventions
    /// (`Admin`, `ADMIN`), so the comparison ignores ASCII case.
    pub fn from_claim(value: &str) -> Option<Role> {
        [Role::Admin, Role::Reader, Role::Assistant]
            .into_iter()
            .find(|r| value.eq_ignore_ascii_case(r.as_str()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated caller: who (for the audit log) and with which role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The configured token's name, or the JWT `sub`.
    pub name: String,
    pub role: Role,
    /// When the credential stops being accepted: a JWT's `exp` plus the configured leeway.
    /// `None` for a configured token, which does not expire. A request is over long before;
    /// a subscription outlives it and is ended then.
    pub expires: Option<std::time::SystemTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_privilege() {
        assert!(Role::Assistant < Role::Reader && Role::Reader < Role::Admin);
        assert_eq!(
            [Role::Reader, Role::Admin, Role::Assistant]
                .into_iter()
                .max(),
            Some(Role::Admin)
        );
    }

    #[test]
    fn claim_names_ignore_case() {
        assert_eq!(Role::from_claim("ADMIN"), Some(Role::Admin));
        assert_eq!(Role::from_claim("Reader"), Some(Role::Reader));
        assert_eq!(Role::from_claim("assistant"), Some(Role::Assistant));
        assert_eq!(Role::from_claim("operator"), None);
        assert_eq!(Role::from_claim(""), None);
    }
}
