//! Who is calling and with which role: bearer tokens from the config and JWTs forwarded by the
//! gateway, turned into a [`Principal`]. Pure logic; the HTTP layer decides what a missing
//! credential means (on loopback with nothing configured, the local operator acts as admin).
//!
//! Secrets are read once at start ([`Authenticator::from_config`]); afterwards only SHA-256
//! hashes of bearer tokens and the JWT verification key are held, and no `Debug` or `Display`
//! output of this module contains a token or a secret.

mod authenticator;
mod config;
mod error;
mod jwt;
mod role;
mod secret;
mod tokens;

pub use authenticator::Authenticator;
pub use config::{AuthConfig, JwtConfig, TokenConfig};
pub use error::{AuthConfigError, AuthError};
pub use role::{Principal, Role};

#[cfg(test)]
mod tests;
