//! End-to-end tests of the authenticator with real signed tokens. RSA keys and JWKS files are
//! fixtures under `tests/fixtures/auth/` (see the README there).

use std::collections::HashMap;
use std::env::VarError;
use std::path::PathBuf;

use base64::Engine;
use jsonwebtoken::{encode, get_current_timestamp, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::*;

const TOKEN_A: &str = "tok-admin-0123456789abcdef0123456789";
const TOKEN_R: &str = "tok-reader-a1b2c3d4e5f6a7b8c9d0";
const TOKEN_S: &str = "tok-assistant-ffeeddccbbaa998877";
const SECRET: &str = "hs256-secret-0123456789abcdefghijklmnop";
const ISSUER: &str = "https://gateway.example";
const AUDIENCE: &str = "pulse-vsphere";

const RSA1_PRIVATE: &[u8] = include_bytes!("../../tests/fixtures/auth/rsa1-private.pem");
const RSA2_PRIVATE: &[u8] = include_bytes!("../../tests/fixtures/auth/rsa2-private.pem");
const RSA1_PUBLIC: &[u8] = include_bytes!("../../tests/fixtures/auth/rsa1-public.pem");

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/auth")
        .join(name)
}

/// A file under the system temp dir, unique per test, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(tag: &str, content: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!(
            "pv-auth-{}-{tag}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::write(&path, content).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Result<String, VarError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned().ok_or(VarError::NotPresent)
}

fn token(name: &str, role: Role) -> TokenConfig {
    TokenConfig {
        name: name.into(),
        role,
        token_env: None,
        token_file: None,
        token_sha256: None,
    }
}

fn token_env(name: &str, role: Role, var: &str) -> TokenConfig {
    TokenConfig {
        token_env: Some(var.into()),
        ..token(name, role)
    }
}

fn jwt_config() -> JwtConfig {
    JwtConfig {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        roles_claim: "roles".into(),
        hs256_secret_env: None,
        hs256_secret_file: None,
        jwks_file: None,
        leeway_seconds: None,
    }
}

fn hs256_config() -> JwtConfig {
    JwtConfig {
        hs256_secret_env: Some("PV_JWT_SECRET".into()),
        ..jwt_config()
    }
}

fn rs256_config(jwks: &str) -> JwtConfig {
    JwtConfig {
        jwks_file: Some(fixture(jwks)),
        ..jwt_config()
    }
}

fn std_env() -> impl Fn(&str) -> Result<String, VarError> {
    env_of(&[
        ("PV_A", TOKEN_A),
        ("PV_R", TOKEN_R),
        ("PV_S", TOKEN_S),
        ("PV_JWT_SECRET", SECRET),
    ])
}

fn build(c: &AuthConfig) -> Result<Authenticator, AuthConfigError> {
    Authenticator::from_config_with(c, &std_env())
}

fn tokens_only() -> Authenticator {
    build(&AuthConfig {
        tokens: vec![
            token_env("ops", Role::Admin, "PV_A"),
            token_env("frontend", Role::Reader, "PV_R"),
            token_env("assistant", Role::Assistant, "PV_S"),
        ],
        jwt: None,
    })
    .unwrap()
}

fn with_jwt(jwt: JwtConfig) -> Authenticator {
    build(&AuthConfig {
        tokens: vec![token_env("ops", Role::Admin, "PV_A")],
        jwt: Some(jwt),
    })
    .unwrap()
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

fn principal(name: &str, role: Role) -> Option<Principal> {
    Some(Principal {
        name: name.into(),
        role,
        expires: None,
    })
}

/// The JWT's principal with its expiry left out (checked on its own).
fn who(r: Result<Option<Principal>, AuthError>) -> Result<Option<Principal>, AuthError> {
    r.map(|p| p.map(|p| Principal { expires: None, ..p }))
}

fn claims(extra: Value) -> Value {
    let mut c = json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice@example",
        "exp": get_current_timestamp() + 600,
        "iat": get_current_timestamp(),
        "roles": ["reader"],
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn hs256(claims: &Value) -> String {
    hs256_with(SECRET.as_bytes(), claims)
}

fn hs256_with(secret: &[u8], claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn rs256(private_pem: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_string);
    encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(private_pem).unwrap(),
    )
    .unwrap()
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

// --- bearer tokens -------------------------------------------------------------------------

#[test]
fn no_header_is_no_credential() {
    assert_eq!(tokens_only().authenticate(None), Ok(None));
    assert_eq!(Authenticator::none().authenticate(None), Ok(None));
}

#[test]
fn tokens_map_to_their_name_and_role() {
    let a = tokens_only();
    assert!(a.is_configured());
    assert_eq!(
        a.authenticate(Some(&bearer(TOKEN_A))),
        Ok(principal("ops", Role::Admin))
    );
    assert_eq!(
        a.authenticate(Some(&bearer(TOKEN_R))),
        Ok(principal("frontend", Role::Reader))
    );
    assert_eq!(
        a.authenticate(Some(&bearer(TOKEN_S))),
        Ok(principal("assistant", Role::Assistant))
    );
}

#[test]
fn scheme_is_case_insensitive_and_spacing_tolerated() {
    let a = tokens_only();
    for h in [
        format!("bearer {TOKEN_A}"),
        format!("BEARER {TOKEN_A}"),
        format!("  Bearer   {TOKEN_A}  "),
        format!("Bearer\t{TOKEN_A}"),
    ] {
        assert_eq!(
            a.authenticate(Some(&h)),
            Ok(principal("ops", Role::Admin)),
            "{h:?}"
        );
    }
}

#[test]
fn anything_but_bearer_is_malformed() {
    let a = tokens_only();
    for h in [
        "".to_string(),
        "   ".to_string(),
        "Bearer".to_string(),
        "Bearer    ".to_string(),
        TOKEN_A.to_string(),
        format!("Basic {TOKEN_A}"),
        format!("Token {TOKEN_A}"),
    ] {
        assert!(
            matches!(a.authenticate(Some(&h)), Err(AuthError::Malformed(_))),
            "{h:?}"
        );
    }
}

#[test]
fn unknown_tokens_are_refused() {
    let a = tokens_only();
    assert_eq!(
        a.authenticate(Some(&bearer("not-a-configured-token-000000"))),
        Err(AuthError::UnknownToken)
    );
    // Prefixes and near misses do not match.
    assert_eq!(
        a.authenticate(Some(&bearer(&TOKEN_A[..TOKEN_A.len() - 1]))),
        Err(AuthError::UnknownToken)
    );
    assert_eq!(
        a.authenticate(Some(&bearer(&TOKEN_A.to_uppercase()))),
        Err(AuthError::UnknownToken)
    );
    // With no JWT configured, a JWT is just another unknown token.
    assert_eq!(
        a.authenticate(Some(&bearer(&hs256(&claims(json!({})))))),
        Err(AuthError::UnknownToken)
    );
    assert_eq!(
        Authenticator::none().authenticate(Some(&bearer(TOKEN_A))),
        Err(AuthError::UnknownToken)
    );
}

#[test]
fn token_from_file_reads_its_first_line() {
    let f = TempFile::new("token", format!("{TOKEN_R}\n").as_bytes());
    let a = build(&AuthConfig {
        tokens: vec![TokenConfig {
            token_file: Some(f.0.clone()),
            ..token("file", Role::Reader)
        }],
        jwt: None,
    })
    .unwrap();
    assert_eq!(
        a.authenticate(Some(&bearer(TOKEN_R))),
        Ok(principal("file", Role::Reader))
    );
}

#[test]
fn token_sha256_needs_no_token_on_the_host() {
    let hash = hex::encode(Sha256::digest(TOKEN_S.as_bytes()));
    for given in [hash.clone(), hash.to_uppercase()] {
        let a = build(&AuthConfig {
            tokens: vec![TokenConfig {
                token_sha256: Some(given),
                ..token("hashed", Role::Assistant)
            }],
            jwt: None,
        })
        .unwrap();
        assert_eq!(
            a.authenticate(Some(&bearer(TOKEN_S))),
            Ok(principal("hashed", Role::Assistant))
        );
    }
}

#[test]
fn none_is_not_configured() {
    assert!(!Authenticator::none().is_configured());
    assert!(!build(&AuthConfig::default()).unwrap().is_configured());
    assert!(build(&AuthConfig {
        tokens: vec![],
        jwt: Some(hs256_config())
    })
    .unwrap()
    .is_configured());
}

// --- configuration errors ------------------------------------------------------------------

fn config_error(c: AuthConfig, env: &[(&str, &str)]) -> String {
    Authenticator::from_config_with(&c, &env_of(env))
        .unwrap_err()
        .to_string()
}

fn tokens(t: Vec<TokenConfig>) -> AuthConfig {
    AuthConfig {
        tokens: t,
        jwt: None,
    }
}

#[test]
fn a_token_needs_exactly_one_source() {
    let e = config_error(tokens(vec![token("x", Role::Reader)]), &[]);
    assert!(
        e.starts_with("auth_config_invalid: token x: give exactly one of"),
        "{e}"
    );
    let two = TokenConfig {
        token_file: Some("/nonexistent".into()),
        ..token_env("x", Role::Reader, "PV_A")
    };
    let e = config_error(tokens(vec![two]), &[("PV_A", TOKEN_A)]);
    assert!(
        e.starts_with("auth_config_invalid: token x: give exactly one of"),
        "{e}"
    );
}

#[test]
fn short_or_odd_tokens_are_refused() {
    // 16 characters is the minimum (see `sixteen_characters_are_enough`); 15 is refused.
    let e = config_error(
        tokens(vec![token_env("x", Role::Reader, "T")]),
        &[("T", "short-token-15c")],
    );
    assert!(
        e.starts_with("auth_config_invalid: token x: the token is shorter than 16"),
        "{e}"
    );
    assert!(!e.contains("short-token"));

    let e = config_error(
        tokens(vec![token_env("x", Role::Reader, "T")]),
        &[("T", "token with spaces inside it")],
    );
    assert!(
        e.contains("visible ASCII") && !e.contains("spaces inside"),
        "{e}"
    );
}

#[test]
fn sixteen_characters_are_enough() {
    Authenticator::from_config_with(
        &tokens(vec![token_env("x", Role::Reader, "T")]),
        &env_of(&[("T", "0123456789abcdef")]),
    )
    .unwrap();
}

#[test]
fn duplicate_names_and_values_are_refused() {
    let e = config_error(
        tokens(vec![
            token_env("x", Role::Reader, "PV_A"),
            token_env("x", Role::Admin, "PV_R"),
        ]),
        &[("PV_A", TOKEN_A), ("PV_R", TOKEN_R)],
    );
    assert!(
        e.starts_with("auth_config_invalid: token x: the name appears twice"),
        "{e}"
    );

    // The same token from two sources: one by value, one by hash.
    let e = config_error(
        tokens(vec![
            token_env("x", Role::Reader, "PV_A"),
            TokenConfig {
                token_sha256: Some(hex::encode(Sha256::digest(TOKEN_A.as_bytes()))),
                ..token("y", Role::Admin)
            },
        ]),
        &[("PV_A", TOKEN_A)],
    );
    assert!(
        e.starts_with("auth_config_invalid: token y: has the same value as token x"),
        "{e}"
    );
    assert!(!e.contains(TOKEN_A));
}

#[test]
fn bad_names_and_hashes_are_refused() {
    for name in ["", "two words", &"n".repeat(65)] {
        let e = config_error(
            tokens(vec![token_env(name, Role::Reader, "PV_A")]),
            &[("PV_A", TOKEN_A)],
        );
        assert!(e.starts_with("auth_config_invalid: token name"), "{e}");
    }
    for hash in ["abc", &"g".repeat(64), &"a".repeat(63), &"a".repeat(66)] {
        let e = config_error(
            tokens(vec![TokenConfig {
                token_sha256: Some(hash.to_string()),
                ..token("x", Role::Reader)
            }]),
            &[],
        );
        assert!(e.contains("token_sha256 must be 64 hex characters"), "{e}");
    }
}

#[test]
fn missing_secrets_name_their_source() {
    let e = config_error(tokens(vec![token_env("x", Role::Reader, "PV_UNSET")]), &[]);
    assert_eq!(
        e,
        "auth_secret_missing: token x: environment variable PV_UNSET: is not set"
    );
    let e = config_error(
        tokens(vec![token_env("x", Role::Reader, "PV_EMPTY")]),
        &[("PV_EMPTY", "  ")],
    );
    assert!(e.ends_with("is empty"), "{e}");
    let e = config_error(
        tokens(vec![TokenConfig {
            token_file: Some("/nonexistent/pv-token".into()),
            ..token("x", Role::Reader)
        }]),
        &[],
    );
    assert!(
        e.starts_with("auth_secret_missing: token x: file /nonexistent/pv-token: "),
        "{e}"
    );
    let empty = TempFile::new("empty", b"\n");
    let e = config_error(
        tokens(vec![TokenConfig {
            token_file: Some(empty.0.clone()),
            ..token("x", Role::Reader)
        }]),
        &[],
    );
    assert!(
        e.starts_with("auth_secret_missing:") && e.ends_with("is empty"),
        "{e}"
    );
}

#[test]
fn jwt_config_errors() {
    let err = |j: JwtConfig, env: &[(&str, &str)]| {
        config_error(
            AuthConfig {
                tokens: vec![],
                jwt: Some(j),
            },
            env,
        )
    };
    let secret = [("PV_JWT_SECRET", SECRET)];
    let e = err(jwt_config(), &secret);
    assert!(
        e.starts_with("auth_config_invalid: auth.jwt: give exactly one of"),
        "{e}"
    );
    let e = err(
        JwtConfig {
            jwks_file: Some(fixture("jwks-one.json")),
            ..hs256_config()
        },
        &secret,
    );
    assert!(e.contains("give exactly one of"), "{e}");

    let short = "31-bytes-of-secret-0123456789ab";
    assert_eq!(short.len(), 31);
    let e = err(hs256_config(), &[("PV_JWT_SECRET", short)]);
    assert!(
        e.contains("shorter than 32 bytes") && !e.contains(short),
        "{e}"
    );

    let e = err(hs256_config(), &[]);
    assert!(
        e.starts_with("auth_secret_missing: auth.jwt: environment variable PV_JWT_SECRET"),
        "{e}"
    );

    let e = err(
        JwtConfig {
            hs256_secret_file: Some("/nonexistent/jwt".into()),
            ..jwt_config()
        },
        &[],
    );
    assert!(
        e.starts_with("auth_secret_missing: auth.jwt: file /nonexistent/jwt"),
        "{e}"
    );

    for field in ["issuer", "audience", "roles_claim"] {
        let mut j = hs256_config();
        match field {
            "issuer" => j.issuer = " ".into(),
            "audience" => j.audience = String::new(),
            _ => j.roles_claim = String::new(),
        }
        let e = err(j, &secret);
        assert_eq!(
            e,
            format!("auth_config_invalid: auth.jwt: {field} must not be empty")
        );
    }

    let e = err(
        JwtConfig {
            leeway_seconds: Some(301),
            ..hs256_config()
        },
        &secret,
    );
    assert!(e.contains("leeway_seconds must be at most 300"), "{e}");

    let e = err(rs256_config("no-such-jwks.json"), &[]);
    assert!(
        e.starts_with("auth_config_invalid: auth.jwt: cannot read jwks_file"),
        "{e}"
    );

    let not_json = TempFile::new("jwks", b"{\"keys\": 5}");
    let e = err(
        JwtConfig {
            jwks_file: Some(not_json.0.clone()),
            ..jwt_config()
        },
        &[],
    );
    assert!(e.contains("not a JWKS"), "{e}");

    // Only encryption and EC keys: nothing to verify RS256 with.
    let useless = TempFile::new(
        "jwks",
        br#"{"keys":[{"kty":"RSA","use":"enc","kid":"e","n":"AQAB","e":"AQAB"},
                    {"kty":"EC","crv":"P-256","kid":"ec","x":"AQAB","y":"AQAB"}]}"#,
    );
    let e = err(
        JwtConfig {
            jwks_file: Some(useless.0.clone()),
            ..jwt_config()
        },
        &[],
    );
    assert!(e.contains("holds no RS256 signing key"), "{e}");

    let one: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("jwks-one.json")).unwrap()).unwrap();
    let key = one["keys"][0].clone();
    let dup = TempFile::new("jwks", json!({"keys": [key, key]}).to_string().as_bytes());
    let e = err(
        JwtConfig {
            jwks_file: Some(dup.0.clone()),
            ..jwt_config()
        },
        &[],
    );
    assert!(e.contains("kid `gw-1` appears twice"), "{e}");
}

#[test]
fn a_jwt_shaped_token_is_refused_when_jwt_is_configured() {
    let jwt_like = "aaaaaaaa.bbbbbbbb.cccccccc";
    let c = |jwt| AuthConfig {
        tokens: vec![token_env("x", Role::Reader, "T")],
        jwt,
    };
    let env = [("T", jwt_like), ("PV_JWT_SECRET", SECRET)];
    let e = config_error(c(Some(hs256_config())), &env);
    assert!(
        e.contains("shaped like a JWT") && !e.contains(jwt_like),
        "{e}"
    );
    Authenticator::from_config_with(&c(None), &env_of(&env)).unwrap();
}

// --- JWT: HS256 ----------------------------------------------------------------------------

#[test]
fn hs256_jwt_gives_sub_and_role() {
    let a = with_jwt(hs256_config());
    let t = hs256(&claims(json!({"roles": "admin"})));
    assert_eq!(
        who(a.authenticate(Some(&bearer(&t)))),
        Ok(principal("alice@example", Role::Admin))
    );
    // Bearer tokens keep working next to JWT.
    assert_eq!(
        a.authenticate(Some(&bearer(TOKEN_A))),
        Ok(principal("ops", Role::Admin))
    );
}

#[test]
fn a_jwt_principal_expires_at_exp_plus_leeway() {
    let a = with_jwt(JwtConfig {
        leeway_seconds: Some(7),
        ..hs256_config()
    });
    let exp = get_current_timestamp() + 600;
    let t = hs256(&claims(json!({ "exp": exp })));
    let p = a.authenticate(Some(&bearer(&t))).unwrap().unwrap();
    assert_eq!(
        p.expires,
        Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(exp + 7))
    );
    // A configured token does not expire.
    let p = a.authenticate(Some(&bearer(TOKEN_A))).unwrap().unwrap();
    assert_eq!(p.expires, None);
}

#[test]
fn hs256_secret_from_file() {
    let f = TempFile::new("jwt-secret", format!("{SECRET}\n").as_bytes());
    let a = with_jwt(JwtConfig {
        hs256_secret_file: Some(f.0.clone()),
        ..jwt_config()
    });
    let t = hs256(&claims(json!({})));
    assert_eq!(
        who(a.authenticate(Some(&bearer(&t)))),
        Ok(principal("alice@example", Role::Reader))
    );
}

#[test]
fn roles_claim_forms() {
    let a = with_jwt(hs256_config());
    let role_of = |roles: Value| {
        a.authenticate(Some(&bearer(&hs256(&claims(json!({ "roles": roles }))))))
            .map(|p| p.unwrap().role)
    };
    assert_eq!(role_of(json!("reader")), Ok(Role::Reader));
    assert_eq!(role_of(json!("ASSISTANT")), Ok(Role::Assistant));
    assert_eq!(
        role_of(json!(["assistant", "Admin", "reader"])),
        Ok(Role::Admin)
    );
    assert_eq!(role_of(json!(["viewer", "reader", 7])), Ok(Role::Reader));
    assert_eq!(role_of(json!(["viewer", "owner"])), Err(AuthError::NoRole));
    assert_eq!(role_of(json!([])), Err(AuthError::NoRole));
    assert_eq!(role_of(json!("")), Err(AuthError::NoRole));
    assert_eq!(role_of(json!({"admin": true})), Err(AuthError::NoRole));
    assert_eq!(role_of(json!(null)), Err(AuthError::NoRole)); // claim absent
}

#[test]
fn roles_claim_name_is_configurable() {
    let a = with_jwt(JwtConfig {
        roles_claim: "https://pulse.example/roles".into(),
        ..hs256_config()
    });
    let t = hs256(&claims(
        json!({"https://pulse.example/roles": ["admin"], "roles": null}),
    ));
    assert_eq!(
        a.authenticate(Some(&bearer(&t))).unwrap().unwrap().role,
        Role::Admin
    );
    // The default name is not consulted once another is configured.
    let t = hs256(&claims(json!({"roles": ["admin"]})));
    assert_eq!(a.authenticate(Some(&bearer(&t))), Err(AuthError::NoRole));
}

#[test]
fn expiry_with_leeway() {
    let a = with_jwt(hs256_config());
    let now = get_current_timestamp();
    let at = |exp: u64| a.authenticate(Some(&bearer(&hs256(&claims(json!({ "exp": exp }))))));
    assert_eq!(at(now - 120), Err(AuthError::Expired));
    // Within the default 30 s leeway.
    assert!(at(now - 10).is_ok());

    let strict = with_jwt(JwtConfig {
        leeway_seconds: Some(0),
        ..hs256_config()
    });
    let t = hs256(&claims(json!({ "exp": now - 10 })));
    assert_eq!(
        strict.authenticate(Some(&bearer(&t))),
        Err(AuthError::Expired)
    );
}

#[test]
fn not_before_is_checked_when_present() {
    let a = with_jwt(hs256_config());
    let now = get_current_timestamp();
    let t = hs256(&claims(json!({ "nbf": now + 600 })));
    assert_eq!(
        a.authenticate(Some(&bearer(&t))),
        Err(AuthError::NotYetValid)
    );
    let t = hs256(&claims(json!({ "nbf": now - 5 })));
    assert!(a.authenticate(Some(&bearer(&t))).is_ok());
}

#[test]
fn audience_string_or_array() {
    let a = with_jwt(hs256_config());
    let aud = |v: Value| a.authenticate(Some(&bearer(&hs256(&claims(json!({ "aud": v }))))));
    assert!(aud(json!(AUDIENCE)).is_ok());
    assert!(aud(json!(["other", AUDIENCE])).is_ok());
    assert_eq!(aud(json!("other-service")), Err(AuthError::WrongAudience));
    assert_eq!(aud(json!(["a", "b"])), Err(AuthError::WrongAudience));
}

#[test]
fn wrong_issuer() {
    let a = with_jwt(hs256_config());
    let t = hs256(&claims(json!({"iss": "https://evil.example"})));
    assert_eq!(
        a.authenticate(Some(&bearer(&t))),
        Err(AuthError::WrongIssuer)
    );
}

#[test]
fn required_claims() {
    let a = with_jwt(hs256_config());
    for claim in ["exp", "iss", "aud", "sub"] {
        let t = hs256(&claims(json!({ claim: null })));
        assert_eq!(
            a.authenticate(Some(&bearer(&t))),
            Err(AuthError::MissingClaim(claim)),
            "{claim}"
        );
    }
    let t = hs256(&claims(json!({"sub": 42})));
    assert_eq!(
        a.authenticate(Some(&bearer(&t))),
        Err(AuthError::MissingClaim("sub"))
    );
    let t = hs256(&claims(json!({"sub": ""})));
    assert_eq!(
        a.authenticate(Some(&bearer(&t))),
        Err(AuthError::MissingClaim("sub"))
    );
    let t = hs256(&claims(json!({"exp": "tomorrow"})));
    assert_eq!(
        a.authenticate(Some(&bearer(&t))),
        Err(AuthError::MissingClaim("exp"))
    );
}

#[test]
fn hs256_bad_signature() {
    let a = with_jwt(hs256_config());
    let t = hs256_with(b"another-secret-of-at-least-32-bytes!!", &claims(json!({})));
    assert_eq!(
        a.authenticate(Some(&bearer(&t))),
        Err(AuthError::BadSignature)
    );

    // A payload edited after signing (reader -> admin).
    let good = hs256(&claims(json!({})));
    let parts: Vec<&str> = good.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(&claims(json!({"roles": ["admin"]}))),
        parts[2]
    );
    assert_eq!(
        a.authenticate(Some(&bearer(&forged))),
        Err(AuthError::BadSignature)
    );
}

#[test]
fn malformed_jwts() {
    let a = with_jwt(hs256_config());
    for t in ["abc.def.ghi", "e30.e30."] {
        assert!(
            matches!(
                a.authenticate(Some(&bearer(t))),
                Err(AuthError::Malformed(_))
            ),
            "{t}"
        );
    }
    // Correctly signed, but the payload is not JSON: refused after the signature check.
    let message = format!(
        "{}.{}",
        b64(&json!({"alg": "HS256"})),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("not json")
    );
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(SECRET.as_bytes()),
        Algorithm::HS256,
    )
    .unwrap();
    let t = format!("{message}.{signature}");
    assert!(matches!(
        a.authenticate(Some(&bearer(&t))),
        Err(AuthError::Malformed(_))
    ));
    // The same with a wrong signature is a signature failure first.
    let t = format!("{message}.c2ln");
    assert_eq!(
        a.authenticate(Some(&bearer(&t))),
        Err(AuthError::BadSignature)
    );
}

#[test]
fn algorithm_is_pinned() {
    let hs = with_jwt(hs256_config());
    let c = claims(json!({"roles": ["admin"]}));

    // alg none, with and without a signature part.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&c)
    );
    assert_eq!(
        hs.authenticate(Some(&bearer(&none))),
        Err(AuthError::WrongAlgorithm)
    );
    let none = format!("{}.{}.c2ln", b64(&json!({"alg": "none"})), b64(&c));
    assert_eq!(
        hs.authenticate(Some(&bearer(&none))),
        Err(AuthError::WrongAlgorithm)
    );

    // Another HMAC size with the right secret.
    let hs384 = encode(
        &Header::new(Algorithm::HS384),
        &c,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        hs.authenticate(Some(&bearer(&hs384))),
        Err(AuthError::WrongAlgorithm)
    );

    // An RS256 token against the HS256 config.
    let rs = rs256(RSA1_PRIVATE, Some("gw-1"), &c);
    assert_eq!(
        hs.authenticate(Some(&bearer(&rs))),
        Err(AuthError::WrongAlgorithm)
    );

    // The classic confusion: HS256 "signed" with the public RSA key against the RS256 config.
    let rsa = with_jwt(rs256_config("jwks-one.json"));
    let confused = hs256_with(RSA1_PUBLIC, &c);
    assert_eq!(
        rsa.authenticate(Some(&bearer(&confused))),
        Err(AuthError::WrongAlgorithm)
    );
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": "gw-1"})),
        b64(&c)
    );
    assert_eq!(
        rsa.authenticate(Some(&bearer(&none))),
        Err(AuthError::WrongAlgorithm)
    );
}

// --- JWT: RS256 via JWKS -------------------------------------------------------------------

#[test]
fn rs256_with_kid() {
    let a = with_jwt(rs256_config("jwks-two.json"));
    let t = rs256(RSA1_PRIVATE, Some("gw-1"), &claims(json!({})));
    assert_eq!(
        who(a.authenticate(Some(&bearer(&t)))),
        Ok(principal("alice@example", Role::Reader))
    );
    let t = rs256(
        RSA2_PRIVATE,
        Some("gw-2"),
        &claims(json!({"roles": "admin"})),
    );
    assert_eq!(
        who(a.authenticate(Some(&bearer(&t)))),
        Ok(principal("alice@example", Role::Admin))
    );
}

#[test]
fn rs256_without_kid_needs_a_single_key() {
    let one = with_jwt(rs256_config("jwks-one.json"));
    let t = rs256(RSA1_PRIVATE, None, &claims(json!({})));
    assert!(one.authenticate(Some(&bearer(&t))).unwrap().is_some());

    let two = with_jwt(rs256_config("jwks-two.json"));
    assert_eq!(
        two.authenticate(Some(&bearer(&t))),
        Err(AuthError::UnknownKey)
    );
}

#[test]
fn rs256_unknown_kid() {
    let a = with_jwt(rs256_config("jwks-one.json"));
    let t = rs256(RSA1_PRIVATE, Some("gw-9"), &claims(json!({})));
    assert_eq!(
        a.authenticate(Some(&bearer(&t))),
        Err(AuthError::UnknownKey)
    );
}

#[test]
fn rs256_bad_signature() {
    // Signed by key 2 but claiming key 1's kid.
    let a = with_jwt(rs256_config("jwks-two.json"));
    let t = rs256(RSA2_PRIVATE, Some("gw-1"), &claims(json!({})));
    assert_eq!(
        a.authenticate(Some(&bearer(&t))),
        Err(AuthError::BadSignature)
    );
    // Key 2 is not in the one-key set: without a kid, key 1 is tried and does not verify.
    let one = with_jwt(rs256_config("jwks-one.json"));
    let t = rs256(RSA2_PRIVATE, None, &claims(json!({})));
    assert_eq!(
        one.authenticate(Some(&bearer(&t))),
        Err(AuthError::BadSignature)
    );
}

#[test]
fn rs256_claims_are_checked_like_hs256() {
    let a = with_jwt(rs256_config("jwks-one.json"));
    let now = get_current_timestamp();
    let check = |extra: Value| {
        a.authenticate(Some(&bearer(&rs256(
            RSA1_PRIVATE,
            Some("gw-1"),
            &claims(extra),
        ))))
    };
    assert_eq!(check(json!({"exp": now - 120})), Err(AuthError::Expired));
    assert_eq!(
        check(json!({"aud": "other"})),
        Err(AuthError::WrongAudience)
    );
    assert_eq!(check(json!({"iss": "other"})), Err(AuthError::WrongIssuer));
    assert_eq!(check(json!({"roles": null})), Err(AuthError::NoRole));
}

#[test]
fn jwks_skips_keys_it_cannot_use() {
    let one: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("jwks-one.json")).unwrap()).unwrap();
    let mut enc = one["keys"][0].clone();
    enc["use"] = json!("enc");
    enc["kid"] = json!("enc-1");
    let mut ps = one["keys"][0].clone();
    ps["alg"] = json!("PS256");
    ps["kid"] = json!("ps-1");
    let ec = json!({"kty":"EC","crv":"P-256","kid":"ec-1","x":"AQAB","y":"AQAB"});
    let f = TempFile::new(
        "jwks",
        json!({"keys": [enc, ec, one["keys"][0].clone(), ps]})
            .to_string()
            .as_bytes(),
    );
    let a = with_jwt(JwtConfig {
        jwks_file: Some(f.0.clone()),
        ..jwt_config()
    });
    // One usable key remains, so a token without kid is accepted.
    let t = rs256(RSA1_PRIVATE, None, &claims(json!({})));
    assert!(a.authenticate(Some(&bearer(&t))).unwrap().is_some());
    let t = rs256(RSA1_PRIVATE, Some("enc-1"), &claims(json!({})));
    assert_eq!(
        a.authenticate(Some(&bearer(&t))),
        Err(AuthError::UnknownKey)
    );
}

// --- nothing secret in Debug or Display ----------------------------------------------------

#[test]
fn debug_and_display_never_show_tokens_or_secrets() {
    let secrets = [TOKEN_A, TOKEN_R, TOKEN_S, SECRET];
    let clean = |text: &str| {
        for s in secrets {
            assert!(!text.contains(s), "secret in {text}");
        }
        // Nor any recognisable piece of one.
        for s in secrets {
            assert!(!text.contains(&s[..12]), "secret fragment in {text}");
        }
    };

    let a = build(&AuthConfig {
        tokens: vec![
            token_env("ops", Role::Admin, "PV_A"),
            token_env("frontend", Role::Reader, "PV_R"),
            token_env("assistant", Role::Assistant, "PV_S"),
        ],
        jwt: Some(hs256_config()),
    })
    .unwrap();
    let debug = format!("{a:?}");
    clean(&debug);
    clean(&format!("{a:#?}"));
    assert!(
        debug.contains("ops:admin") && debug.contains("HS256"),
        "{debug}"
    );
    // Not the token hashes either.
    assert!(!debug.contains(&hex::encode(Sha256::digest(TOKEN_A.as_bytes()))[..16]));

    let rsa = with_jwt(rs256_config("jwks-two.json"));
    assert!(format!("{rsa:?}").contains("gw-2"));

    // Every refusal, provoked with the real secrets in play.
    let mut errors: Vec<AuthError> = Vec::new();
    let mut push = |h: String| errors.push(a.authenticate(Some(&h)).unwrap_err());
    push(format!("Basic {TOKEN_A}"));
    push(TOKEN_A.to_string());
    push(bearer(&format!("{TOKEN_A}x")));
    push(bearer(&hs256(&claims(
        json!({"exp": get_current_timestamp() - 999}),
    ))));
    push(bearer(&hs256(&claims(
        json!({"nbf": get_current_timestamp() + 999}),
    ))));
    push(bearer(&hs256(&claims(json!({"aud": TOKEN_R})))));
    push(bearer(&hs256(&claims(json!({"iss": TOKEN_S})))));
    push(bearer(&hs256_with(
        format!("{SECRET}x").as_bytes(),
        &claims(json!({})),
    )));
    push(bearer(&hs256(&claims(json!({"roles": [TOKEN_A]})))));
    push(bearer(&hs256(&claims(json!({"sub": null})))));
    push(bearer(&rs256(RSA1_PRIVATE, None, &claims(json!({})))));
    push(bearer("abc.def.ghi"));
    assert_eq!(errors.len(), 12);
    for e in &errors {
        clean(&e.to_string());
        clean(&format!("{e:?}"));
    }

    // Configuration errors that involve a secret's value.
    let config_errors = [
        config_error(
            tokens(vec![token_env("x", Role::Reader, "T")]),
            &[("T", &TOKEN_A[..15])],
        ),
        config_error(
            tokens(vec![token_env("x", Role::Reader, "T")]),
            &[("T", &format!("{TOKEN_A} {TOKEN_R}"))],
        ),
        config_error(
            tokens(vec![
                token_env("x", Role::Reader, "T"),
                token_env("y", Role::Reader, "T"),
            ]),
            &[("T", TOKEN_A)],
        ),
        config_error(
            tokens(vec![TokenConfig {
                token_sha256: Some(TOKEN_A.into()),
                ..token("x", Role::Reader)
            }]),
            &[],
        ),
        config_error(
            AuthConfig {
                tokens: vec![],
                jwt: Some(hs256_config()),
            },
            &[("PV_JWT_SECRET", &SECRET[..31])],
        ),
    ];
    for e in &config_errors {
        clean(e);
        for s in secrets {
            assert!(!e.contains(&s[..12]), "{e}");
        }
    }
    let e = Authenticator::from_config_with(
        &tokens(vec![token_env("x", Role::Reader, "T")]),
        &env_of(&[("T", &TOKEN_A[..15])]),
    )
    .unwrap_err();
    clean(&format!("{e:?}"));
}
