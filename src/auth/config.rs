//! The `[auth]` section of the service config file. It names where secrets live (environment
//! variables, files) or holds only a token's SHA-256, so the file itself can be shared and logged.
//!
//! ```toml
//! [[auth.tokens]]
//! name = "frontend"
//! role = "reader"
//! token_env = "PV_FRONTEND_TOKEN"     # or token_file = PATH, or token_sha256 = "64 hex chars"
//!
//! [auth.jwt]
//! issuer = "https://gateway.example"
//! audience = "pulse-vsphere"
//! roles_claim = "roles"               # default
//! hs256_secret_env = "PV_JWT_SECRET"  # or hs256_secret_file = PATH, or jwks_file = PATH (RS256)
//! leeway_seconds = 30                 # default
//! ```

use std::path::PathBuf;

use serde::Deserialize;

use super::{AuthConfigError, Role};

/// Everything the authenticator needs; empty means no credential is configured.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    #[serde(default)]
    pub jwt: Option<JwtConfig>,
}

/// One bearer token; exactly one of `token_env`, `token_file`, `token_sha256`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who the token belongs to; recorded in the audit log.
    pub name: String,
    pub role: Role,
    /// Environment variable holding the token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// File holding the token (first line).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// The token's SHA-256 in hex, so the token itself is stored nowhere on this host.
    #[serde(default)]
    pub token_sha256: Option<String>,
}

fn default_roles_claim() -> String {
    "roles".into()
}

/// JWTs forwarded by the gateway; exactly one of `hs256_secret_env`, `hs256_secret_file`
/// (HS256) and `jwks_file` (RS256).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Required value of `iss`.
    pub issuer: String,
    /// Required member of `aud`.
    pub audience: String,
    /// Claim holding the role names (a string or an array of strings).
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    #[serde(default)]
    pub hs256_secret_env: Option<String>,
    #[serde(default)]
    pub hs256_secret_file: Option<PathBuf>,
    /// JSON Web Key Set with the gateway's RSA public keys.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// Clock skew tolerated on `exp` and `nbf`; 30 s when absent.
    #[serde(default)]
    pub leeway_seconds: Option<u64>,
}

const TOKEN_KEYS: &[&str] = &["name", "role", "token_env", "token_file", "token_sha256"];
const JWT_KEYS: &[&str] = &[
    "issuer",
    "audience",
    "roles_claim",
    "hs256_secret_env",
    "hs256_secret_file",
    "jwks_file",
    "leeway_seconds",
];

impl AuthConfig {
    /// Checks the raw `auth` table before it is deserialized. An unknown key is most likely an
    /// inline secret (`token = "..."`), and toml's own error would quote that line into the log;
    /// this names the key only. Call it before parsing the file with serde.
    pub fn refuse_inline_secrets(auth: &toml::Value) -> Result<(), AuthConfigError> {
        let unknown = |table: &toml::Value, allowed: &[&str], at: &str| {
            let Some(t) = table.as_table() else {
                return Ok(());
            };
            match t.keys().find(|k| !allowed.contains(&k.as_str())) {
                Some(k) => Err(AuthConfigError::Invalid(format!(
                    "{at}: unknown key `{k}`; a token or secret is never written inline, name it with \
                     *_env or *_file (or give token_sha256)"
                ))),
                None => Ok(()),
            }
        };
        if let Some(tokens) = auth.get("tokens").and_then(|t| t.as_array()) {
            for (i, t) in tokens.iter().enumerate() {
                unknown(t, TOKEN_KEYS, &format!("auth.tokens[{i}]"))?;
            }
        }
        if let Some(jwt) = auth.get("jwt") {
            unknown(jwt, JWT_KEYS, "auth.jwt")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        auth: AuthConfig,
    }

    #[test]
    fn parses_the_documented_shape() {
        let f: File = toml::from_str(
            r#"
            [[auth.tokens]]
            name = "frontend"
            role = "reader"
            token_env = "PV_FRONTEND_TOKEN"

            [[auth.tokens]]
            name = "ops"
            role = "admin"
            token_sha256 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

            [auth.jwt]
            issuer = "https://gw.example"
            audience = "pulse-vsphere"
            jwks_file = "/etc/pulse-vsphere/jwks.json"
            "#,
        )
        .unwrap();
        assert_eq!(f.auth.tokens.len(), 2);
        assert_eq!(f.auth.tokens[0].role, Role::Reader);
        assert_eq!(f.auth.tokens[1].role, Role::Admin);
        let jwt = f.auth.jwt.unwrap();
        assert_eq!(jwt.roles_claim, "roles");
        assert_eq!(jwt.leeway_seconds, None);
    }

    #[test]
    fn unknown_keys_and_roles_are_refused_by_serde() {
        assert!(
            toml::from_str::<File>("[[auth.tokens]]\nname='a'\nrole='root'\ntoken_env='X'")
                .is_err()
        );
        assert!(toml::from_str::<File>("[auth]\nsecret = 'x'").is_err());
    }

    #[test]
    fn inline_secrets_are_refused_without_quoting_them() {
        let raw: toml::Table =
            toml::from_str("[[auth.tokens]]\nname='a'\nrole='admin'\ntoken='s3cr3t-s3cr3t-s3cr3t'")
                .unwrap();
        let err = AuthConfig::refuse_inline_secrets(&raw["auth"]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("auth_config_invalid: auth.tokens[0]: unknown key `token`"),
            "{text}"
        );
        assert!(!text.contains("s3cr3t"));

        let raw: toml::Table =
            toml::from_str("[auth.jwt]\nissuer='i'\naudience='a'\nhs256_secret='s3cr3t'").unwrap();
        let text = AuthConfig::refuse_inline_secrets(&raw["auth"])
            .unwrap_err()
            .to_string();
        assert!(text.contains("auth.jwt: unknown key `hs256_secret`") && !text.contains("s3cr3t"));

        let raw: toml::Table = toml::from_str(
            "[[auth.tokens]]\nname='a'\nrole='admin'\ntoken_env='X'\n[auth.jwt]\nissuer='i'\naudience='a'\njwks_file='j'",
        )
        .unwrap();
        AuthConfig::refuse_inline_secrets(&raw["auth"]).unwrap();
    }
}
