//! Configured bearer tokens, held only as SHA-256 hashes.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use super::secret::{self, EnvLookup};
use super::{AuthConfigError, Principal, TokenConfig};

/// Shorter tokens are guessable; `openssl rand -hex 32` gives 64.
const MIN_TOKEN_CHARS: usize = 16;

type Hash = [u8; 32];

/// Token hash -> the principal it stands for.
#[derive(Default)]
pub(super) struct TokenTable {
    by_hash: HashMap<Hash, Principal>,
}

fn sha256(token: &str) -> Hash {
    Sha256::digest(token.as_bytes()).into()
}

/// Three dot-separated base64url parts, the shape of a compact JWS. The signature part may be
/// empty so that an `alg: none` token is still treated (and refused) as a JWT.
pub(super) fn looks_like_jwt(s: &str) -> bool {
    let b64url = |p: &str| {
        p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && !parts[0].is_empty()
        && !parts[1].is_empty()
        && parts.iter().all(|p| b64url(p))
}

fn invalid(name: &str, reason: &str) -> AuthConfigError {
    AuthConfigError::Invalid(format!("token {name}: {reason}"))
}

impl TokenTable {
    /// Reads every token from its source and keeps its hash. `jwt_configured`: a token shaped
    /// like a JWT would then be verified as one and could never match, so it is refused.
    pub(super) fn load(
        configs: &[TokenConfig],
        env: EnvLookup<'_>,
        jwt_configured: bool,
    ) -> Result<TokenTable, AuthConfigError> {
        let mut table = TokenTable::default();
        let mut names = HashSet::new();
        for c in configs {
            let name = c.name.as_str();
            if name.is_empty()
                || name.len() > 64
                || name.chars().any(|ch| ch.is_whitespace() || ch.is_control())
            {
                return Err(AuthConfigError::Invalid(format!(
                    "token name `{}` must be 1-64 characters without spaces",
                    name.escape_debug()
                )));
            }
            if !names.insert(name) {
                return Err(invalid(name, "the name appears twice"));
            }
            let hash = Self::hash_of(c, env, jwt_configured)?;
            let principal = Principal {
                name: c.name.clone(),
                role: c.role,
                expires: None,
            };
            if let Some(other) = table.by_hash.insert(hash, principal) {
                return Err(invalid(
                    name,
                    &format!(
                        "has the same value as token {}; give each caller its own",
                        other.name
                    ),
                ));
            }
        }
        Ok(table)
    }

    fn hash_of(
        c: &TokenConfig,
        env: EnvLookup<'_>,
        jwt_configured: bool,
    ) -> Result<Hash, AuthConfigError> {
        let name = c.name.as_str();
        let what = format!("token {name}");
        let token = match (&c.token_env, &c.token_file, &c.token_sha256) {
            (Some(var), None, None) => secret::from_env(env, var, &what)?,
            (None, Some(path), None) => secret::text_from_file(path, &what)?,
            (None, None, Some(hex_hash)) => {
                let mut hash = [0u8; 32];
                return match hex::decode_to_slice(hex_hash.trim(), &mut hash) {
                    Ok(()) => Ok(hash),
                    Err(_) => Err(invalid(name, "token_sha256 must be 64 hex characters")),
                };
            }
            _ => {
                return Err(invalid(
                    name,
                    "give exactly one of token_env, token_file, token_sha256",
                ))
            }
        };
        if token.chars().count() < MIN_TOKEN_CHARS {
            return Err(invalid(
                name,
                &format!("the token is shorter than {MIN_TOKEN_CHARS} characters"),
            ));
        }
        // An Authorization header carries visible ASCII only; anything else could never match.
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                name,
                "the token must be visible ASCII characters (e.g. `openssl rand -hex 32`)",
            ));
        }
        if jwt_configured && looks_like_jwt(&token) {
            return Err(invalid(
                name,
                "the token is shaped like a JWT and would be verified as one; use a token without dots",
            ));
        }
        Ok(sha256(&token))
    }

    /// The principal of a presented token. Only hashes are compared, so the time a lookup takes
    /// says nothing an attacker can steer towards a stored token.
    pub(super) fn lookup(&self, token: &str) -> Option<&Principal> {
        self.by_hash.get(&sha256(token))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Names and roles, sorted, for `Debug`.
    pub(super) fn summary(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .by_hash
            .values()
            .map(|p| format!("{}:{}", p.name, p.role))
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_shape() {
        assert!(looks_like_jwt("eyJh.eyJz.c2ln"));
        assert!(looks_like_jwt("eyJh.eyJz."));
        assert!(!looks_like_jwt("0123456789abcdef0123456789abcdef"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a.b.c.d"));
        assert!(!looks_like_jwt(".b.c"));
        assert!(!looks_like_jwt("a=.b.c"));
        assert!(!looks_like_jwt("a+/.b.c"));
    }
}
