//! Verifying JWTs forwarded by the gateway: HS256 with a shared secret, or RS256 with the public
//! keys of a JWKS file. The algorithm is pinned to the configured one, so neither `none` nor an
//! HS256 token signed with a (public) RSA key can pass.

use std::fmt;
use std::path::Path;

use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::secret::{self, EnvLookup};
use super::{AuthConfigError, AuthError, JwtConfig, Principal, Role};

/// HMAC keys shorter than the hash output weaken HS256 (RFC 7518 section 3.2).
const MIN_HS256_SECRET_BYTES: usize = 32;
const DEFAULT_LEEWAY_SECONDS: u64 = 30;
/// More skew than this hides broken clocks; it also keeps jsonwebtoken's `now - leeway` far from
/// underflow.
const MAX_LEEWAY_SECONDS: u64 = 300;

enum Keys {
    Hs256(DecodingKey),
    /// (kid, key) in JWKS order.
    Rs256(Vec<(Option<String>, DecodingKey)>),
}

pub(super) struct JwtVerifier {
    keys: Keys,
    validation: Validation,
    issuer: String,
    audience: String,
    roles_claim: String,
}

// Hand-written: `DecodingKey`'s own Debug would print the HS256 secret.
impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("JwtVerifier");
        match &self.keys {
            Keys::Hs256(_) => d.field("algorithm", &"HS256"),
            Keys::Rs256(keys) => d.field("algorithm", &"RS256").field(
                "kids",
                &keys
                    .iter()
                    .map(|(kid, _)| kid.as_deref())
                    .collect::<Vec<_>>(),
            ),
        };
        d.field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("roles_claim", &self.roles_claim)
            .field("leeway_seconds", &self.validation.leeway)
            .finish()
    }
}

fn invalid(reason: impl fmt::Display) -> AuthConfigError {
    AuthConfigError::Invalid(format!("auth.jwt: {reason}"))
}

/// The part of the JOSE header we read before choosing a key.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

impl JwtVerifier {
    pub(super) fn load(c: &JwtConfig, env: EnvLookup<'_>) -> Result<JwtVerifier, AuthConfigError> {
        for (field, value) in [
            ("issuer", &c.issuer),
            ("audience", &c.audience),
            ("roles_claim", &c.roles_claim),
        ] {
            if value.trim().is_empty() {
                return Err(invalid(format_args!("{field} must not be empty")));
            }
        }
        let leeway = c.leeway_seconds.unwrap_or(DEFAULT_LEEWAY_SECONDS);
        if leeway > MAX_LEEWAY_SECONDS {
            return Err(invalid(format_args!(
                "leeway_seconds must be at most {MAX_LEEWAY_SECONDS}"
            )));
        }
        let keys = match (&c.hs256_secret_env, &c.hs256_secret_file, &c.jwks_file) {
            (Some(var), None, None) => {
                hs256_key(secret::from_env(env, var, "auth.jwt")?.into_bytes())?
            }
            (None, Some(path), None) => hs256_key(secret::from_file(path, "auth.jwt")?)?,
            (None, None, Some(path)) => Keys::Rs256(load_jwks(path)?),
            _ => {
                return Err(invalid(
                    "give exactly one of hs256_secret_env, hs256_secret_file, jwks_file",
                ))
            }
        };
        let alg = match keys {
            Keys::Hs256(_) => Algorithm::HS256,
            Keys::Rs256(_) => Algorithm::RS256,
        };
        let mut validation = Validation::new(alg);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[&c.issuer]);
        validation.set_audience(&[&c.audience]);
        validation.validate_nbf = true;
        validation.leeway = leeway;
        Ok(JwtVerifier {
            keys,
            validation,
            issuer: c.issuer.clone(),
            audience: c.audience.clone(),
            roles_claim: c.roles_claim.clone(),
        })
    }

    fn algorithm_name(&self) -> &'static str {
        match self.keys {
            Keys::Hs256(_) => "HS256",
            Keys::Rs256(_) => "RS256",
        }
    }

    /// Signature, then `exp`/`nbf`/`iss`/`aud`, then `sub` and the roles claim.
    pub(super) fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = raw_header(token)?;
        // Checked on the raw header: jsonwebtoken cannot even parse `none`, and we want that
        // refused as a wrong algorithm rather than as garbage.
        if header.alg != self.algorithm_name() {
            return Err(AuthError::WrongAlgorithm);
        }
        let key = match &self.keys {
            Keys::Hs256(key) => key,
            Keys::Rs256(keys) => select_key(keys, header.kid.as_deref())?,
        };
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, key, &self.validation)
            .map_err(|e| map_error(e.kind()))?
            .claims;
        let name = match claims.get("sub") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            _ => return Err(AuthError::MissingClaim("sub")),
        };
        let role = highest_role(claims.get(&self.roles_claim)).ok_or(AuthError::NoRole)?;
        // Validation required a numeric `exp` that has not passed beyond the leeway.
        let exp = claims
            .get("exp")
            .and_then(Value::as_f64)
            .ok_or(AuthError::MissingClaim("exp"))?;
        let expires = std::time::UNIX_EPOCH
            + std::time::Duration::from_secs_f64(exp.max(0.0))
            + std::time::Duration::from_secs(self.validation.leeway);
        Ok(Principal {
            name,
            role,
            expires: Some(expires),
        })
    }
}

fn hs256_key(secret: Vec<u8>) -> Result<Keys, AuthConfigError> {
    if secret.len() < MIN_HS256_SECRET_BYTES {
        return Err(invalid(format_args!(
            "the HS256 secret is shorter than {MIN_HS256_SECRET_BYTES} bytes"
        )));
    }
    Ok(Keys::Hs256(DecodingKey::from_secret(&secret)))
}

/// RSA signing keys of a JWKS. Keys for encryption or other algorithms are skipped, since an
/// identity provider's set often holds both; an unusable set is an error.
fn load_jwks(path: &Path) -> Result<Vec<(Option<String>, DecodingKey)>, AuthConfigError> {
    let at = || format!("jwks_file {}", path.display());
    let text =
        std::fs::read(path).map_err(|e| invalid(format_args!("cannot read {}: {e}", at())))?;
    #[derive(Deserialize)]
    struct Set {
        keys: Vec<Value>,
    }
    let set: Set = serde_json::from_slice(&text)
        .map_err(|e| invalid(format_args!("{}: not a JWKS: {e}", at())))?;
    let mut keys: Vec<(Option<String>, DecodingKey)> = Vec::new();
    for (i, raw) in set.keys.iter().enumerate() {
        let field = |k: &str| raw.get(k).and_then(Value::as_str);
        let usable = field("kty") == Some("RSA")
            && field("use").is_none_or(|u| u == "sig")
            && field("alg").is_none_or(|a| a == "RS256");
        if !usable {
            tracing::debug!(
                key = i,
                kid = field("kid"),
                "jwks key skipped: not an RS256 signing key"
            );
            continue;
        }
        let jwk: Jwk = serde_json::from_value(raw.clone())
            .map_err(|e| invalid(format_args!("{} key {i}: {e}", at())))?;
        let key = DecodingKey::from_jwk(&jwk)
            .map_err(|e| invalid(format_args!("{} key {i}: {e}", at())))?;
        let kid = jwk.common.key_id.clone();
        if kid.is_some() && keys.iter().any(|(k, _)| *k == kid) {
            return Err(invalid(format_args!(
                "{}: kid `{}` appears twice",
                at(),
                kid.unwrap_or_default()
            )));
        }
        keys.push((kid, key));
    }
    if keys.is_empty() {
        return Err(invalid(format_args!(
            "{}: holds no RS256 signing key",
            at()
        )));
    }
    Ok(keys)
}

fn raw_header(token: &str) -> Result<RawHeader, AuthError> {
    let encoded = token.split('.').next().unwrap_or("");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| AuthError::Malformed("the JWT header is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed("the JWT header is not valid"))
}

/// By `kid`; a token without one is accepted only when there is no choice to make.
fn select_key<'k>(
    keys: &'k [(Option<String>, DecodingKey)],
    kid: Option<&str>,
) -> Result<&'k DecodingKey, AuthError> {
    match kid {
        Some(kid) => keys
            .iter()
            .find(|(k, _)| k.as_deref() == Some(kid))
            .map(|(_, key)| key),
        None if keys.len() == 1 => Some(&keys[0].1),
        None => None,
    }
    .ok_or(AuthError::UnknownKey)
}

/// A role name or an array of them; unknown names are ignored and the strongest known one wins.
fn highest_role(claim: Option<&Value>) -> Option<Role> {
    match claim? {
        Value::String(s) => Role::from_claim(s),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .filter_map(Role::from_claim)
            .max(),
        _ => None,
    }
}

fn map_error(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::InvalidAlgorithm => AuthError::WrongAlgorithm,
        ErrorKind::MissingRequiredClaim(c) | ErrorKind::InvalidClaimFormat(c) => {
            AuthError::MissingClaim(match c.as_str() {
                "exp" => "exp",
                "nbf" => "nbf",
                "iss" => "iss",
                "aud" => "aud",
                "sub" => "sub",
                _ => "a registered claim",
            })
        }
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => AuthError::Malformed("the JWT cannot be decoded"),
        other => {
            // A key the crypto backend rejects is our configuration's fault, not the caller's:
            // say so where the operator looks. The kind names no token content.
            tracing::warn!(error = ?other, "jwt verification failed on the configured key");
            AuthError::BadSignature
        }
    }
}
