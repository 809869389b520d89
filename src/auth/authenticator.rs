//! From an `Authorization` header to a [`Principal`].

use std::fmt;

use super::jwt::JwtVerifier;
use super::secret::EnvLookup;
use super::tokens::{looks_like_jwt, TokenTable};
use super::{AuthConfig, AuthConfigError, AuthError, Principal};

/// The configured credentials, loaded once at start. Cheap to share behind an `Arc`.
pub struct Authenticator {
    tokens: TokenTable,
    jwt: Option<JwtVerifier>,
}

// Hand-written so that no key material can reach a log line through `{:?}`.
impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("tokens", &self.tokens.summary())
            .field("jwt", &self.jwt)
            .finish()
    }
}

impl Authenticator {
    /// Reads every token and key from its environment variable or file now, so a missing secret
    /// stops the start instead of failing requests later.
    pub fn from_config(c: &AuthConfig) -> Result<Authenticator, AuthConfigError> {
        Self::from_config_with(c, &|var| std::env::var(var))
    }

    pub(super) fn from_config_with(
        c: &AuthConfig,
        env: EnvLookup<'_>,
    ) -> Result<Authenticator, AuthConfigError> {
        let jwt = c
            .jwt
            .as_ref()
            .map(|j| JwtVerifier::load(j, env))
            .transpose()?;
        let tokens = TokenTable::load(&c.tokens, env, jwt.is_some())?;
        Ok(Authenticator { tokens, jwt })
    }

    /// No credential configured: every presented credential is unknown.
    pub fn none() -> Authenticator {
        Authenticator {
            tokens: TokenTable::default(),
            jwt: None,
        }
    }

    /// Whether any token or a JWT verifier is configured. When not, the server only binds to
    /// loopback and treats callers as the local operator.
    pub fn is_configured(&self) -> bool {
        !self.tokens.is_empty() || self.jwt.is_some()
    }

    /// `authorization`: the HTTP `Authorization` header value if present. `Ok(None)`: no
    /// credential presented (the caller decides whether that is allowed).
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
    ) -> Result<Option<Principal>, AuthError> {
        let Some(value) = authorization else {
            return Ok(None);
        };
        let (scheme, credential) = value
            .trim()
            .split_once(|c: char| c.is_ascii_whitespace())
            .ok_or(AuthError::Malformed("expected `Bearer <token>`"))?;
        // RFC 9110: the scheme is case-insensitive.
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::Malformed("only the Bearer scheme is accepted"));
        }
        let credential = credential.trim();
        if credential.is_empty() {
            return Err(AuthError::Malformed("expected `Bearer <token>`"));
        }
        if let Some(jwt) = &self.jwt {
            if looks_like_jwt(credential) {
                return jwt.verify(credential).map(Some);
            }
        }
        self.tokens
            .lookup(credential)
            .cloned()
            .map(Some)
            .ok_or(AuthError::UnknownToken)
    }
}
