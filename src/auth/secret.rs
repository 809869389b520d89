//! Reading secret values from the environment or from files. Errors name the source, never the
//! value, and never echo file contents.

use std::env::VarError;
use std::path::Path;

use super::AuthConfigError;

/// Environment lookup, injectable so tests need not mutate the process environment (which races
/// with other threads reading it).
pub(super) type EnvLookup<'a> = &'a dyn Fn(&str) -> Result<String, VarError>;

/// The value of `var`, surrounding whitespace removed; unset, non-UTF-8 or empty is an error.
pub(super) fn from_env(
    env: EnvLookup<'_>,
    var: &str,
    what: &str,
) -> Result<String, AuthConfigError> {
    let missing = |reason: &str| AuthConfigError::SecretMissing {
        what: format!("{what}: environment variable {var}"),
        reason: reason.to_string(),
    };
    match env(var) {
        Ok(v) if v.trim().is_empty() => Err(missing("is empty")),
        Ok(v) => Ok(v.trim().to_string()),
        Err(VarError::NotPresent) => Err(missing("is not set")),
        Err(VarError::NotUnicode(_)) => Err(missing("is not valid UTF-8")),
    }
}

/// The file's bytes without trailing line breaks (editors and `echo` add one; secret mounts
/// usually do not). An empty result is an error.
pub(super) fn from_file(path: &Path, what: &str) -> Result<Vec<u8>, AuthConfigError> {
    let what = || format!("{what}: file {}", path.display());
    let mut bytes = std::fs::read(path).map_err(|e| AuthConfigError::SecretMissing {
        what: what(),
        reason: e.to_string(),
    })?;
    while matches!(bytes.last(), Some(b'\n' | b'\r')) {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Err(AuthConfigError::SecretMissing {
            what: what(),
            reason: "is empty".into(),
        });
    }
    Ok(bytes)
}

/// A text secret from a file: its first line, trimmed, as `password_file` reads it.
pub(super) fn text_from_file(path: &Path, what: &str) -> Result<String, AuthConfigError> {
    let bytes = from_file(path, what)?;
    let text = String::from_utf8(bytes).map_err(|_| AuthConfigError::SecretMissing {
        what: format!("{what}: file {}", path.display()),
        reason: "is not valid UTF-8".into(),
    })?;
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        return Err(AuthConfigError::SecretMissing {
            what: format!("{what}: file {}", path.display()),
            reason: "first line is empty".into(),
        });
    }
    Ok(line.to_string())
}
