//! The two ways this module fails: a configuration that cannot be used (at start), and a
//! credential that is refused (per request). Neither ever carries a token or a secret.

/// Why the `[auth]` configuration cannot be used; the service refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("auth_config_invalid: {0}")]
    Invalid(String),
    /// `what` names the source (`token frontend: environment variable X`), never the value.
    #[error("auth_secret_missing: {what}: {reason}")]
    SecretMissing { what: String, reason: String },
}

/// Why a presented credential was refused. Every variant answers `UNAUTHENTICATED` (HTTP 401);
/// the reasons are static text so nothing from the request can be echoed back or logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Not `Bearer <credential>`, or a JWT that cannot be decoded.
    #[error("auth_malformed: {0}")]
    Malformed(&'static str),
    #[error("auth_unknown_token: no configured token matches")]
    UnknownToken,
    #[error("auth_expired: the JWT has expired")]
    Expired,
    #[error("auth_not_yet_valid: the JWT is not valid yet (nbf)")]
    NotYetValid,
    #[error("auth_wrong_audience: the JWT is meant for another audience")]
    WrongAudience,
    #[error("auth_wrong_issuer: the JWT comes from another issuer")]
    WrongIssuer,
    #[error("auth_bad_signature: the JWT signature does not verify")]
    BadSignature,
    /// The header names an algorithm other than the configured one (including `none`).
    #[error("auth_wrong_algorithm: the JWT is not signed with the configured algorithm")]
    WrongAlgorithm,
    /// RS256: the `kid` is not in the JWKS, or there is no `kid` and the JWKS holds several keys.
    #[error("auth_unknown_key: no JWKS key matches the JWT")]
    UnknownKey,
    /// A required claim (`exp`, `iss`, `aud`, `sub`) is absent or of the wrong type.
    #[error("auth_missing_claim: the JWT has no valid `{0}` claim")]
    MissingClaim(&'static str),
    /// The roles claim holds no `admin`, `reader` or `assistant`.
    #[error("auth_no_role: the credential carries no known role")]
    NoRole,
}

impl AuthError {
    /// The GraphQL `extensions.code` of every authentication failure.
    pub const GRAPHQL_CODE: &'static str = "UNAUTHENTICATED";

    /// The stable code that starts the `Display` text, for logs and metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Malformed(_) => "auth_malformed",
            AuthError::UnknownToken => "auth_unknown_token",
            AuthError::Expired => "auth_expired",
            AuthError::NotYetValid => "auth_not_yet_valid",
            AuthError::WrongAudience => "auth_wrong_audience",
            AuthError::WrongIssuer => "auth_wrong_issuer",
            AuthError::BadSignature => "auth_bad_signature",
            AuthError::WrongAlgorithm => "auth_wrong_algorithm",
            AuthError::UnknownKey => "auth_unknown_key",
            AuthError::MissingClaim(_) => "auth_missing_claim",
            AuthError::NoRole => "auth_no_role",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_starts_with_the_code() {
        let all = [
            AuthError::Malformed("x"),
            AuthError::UnknownToken,
            AuthError::Expired,
            AuthError::NotYetValid,
            AuthError::WrongAudience,
            AuthError::WrongIssuer,
            AuthError::BadSignature,
            AuthError::WrongAlgorithm,
            AuthError::UnknownKey,
            AuthError::MissingClaim("sub"),
            AuthError::NoRole,
        ];
        for e in all {
            assert!(e.to_string().starts_with(&format!("{}: ", e.code())), "{e}");
        }
    }
}
