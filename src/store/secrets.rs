//! Passwords at rest: XChaCha20-Poly1305 under a 256-bit key that never enters the database.
//!
//! Sealed format: `[FORMAT_V1][24-byte random nonce][ciphertext + 16-byte tag]`. The connection id
//! (and the format byte) are associated data, so ciphertext copied to another row, or relabelled
//! as another format, does not open.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::vcenter::Secret;

/// Environment variable holding the key (32 bytes as base64 or 64 hex characters).
pub const SECRET_KEY_ENV: &str = "PULSE_VSPHERE_SECRET_KEY";

const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const AAD_DOMAIN: &[u8] = b"pulse-vsphere/connection-password\0";

/// Why a key or a sealed password cannot be used. Never carries key or password bytes.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret_key_invalid: {origin}: expected 32 bytes as base64 or 64 hex characters")]
    KeyInvalid { origin: String },
    #[error("secret_key_unreadable: {path}: {reason}")]
    KeyUnreadable { path: String, reason: String },
    #[error("secret_key_uncreatable: {path}: {reason}")]
    KeyUncreatable { path: String, reason: String },
    /// No key where one is required (a rotation needs the current key; it never invents one).
    #[error("secret_key_missing: {origin}")]
    KeyMissing { origin: String },
    /// Wrong key or damaged ciphertext; AEAD cannot tell which, and neither can we.
    #[error(
        "secret_unreadable: the password of connection {connection_id} does not decrypt \
         with this key (a different key, or damaged data)"
    )]
    Unreadable { connection_id: String },
}

impl SecretError {
    /// The stable code (the Display prefix).
    pub fn code(&self) -> &'static str {
        match self {
            SecretError::KeyInvalid { .. } => "secret_key_invalid",
            SecretError::KeyUnreadable { .. } => "secret_key_unreadable",
            SecretError::KeyUncreatable { .. } => "secret_key_uncreatable",
            SecretError::KeyMissing { .. } => "secret_key_missing",
            SecretError::Unreadable { .. } => "secret_unreadable",
        }
    }
}

/// Where the key came from; `Created` asks the caller to log the path (the operator must back
/// that file up, or every saved password is lost with it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    Env,
    File(PathBuf),
    Created(PathBuf),
}

/// Seals and opens connection passwords.
#[derive(Clone)]
pub struct Cipher {
    aead: XChaCha20Poly1305,
    key_id: String,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cipher(key_id={}, ***)", self.key_id)
    }
}

impl Cipher {
    pub fn from_key(key: &[u8; 32]) -> Cipher {
        let digest = Sha256::new()
            .chain_update(b"pulse-vsphere key id\0")
            .chain_update(key)
            .finalize();
        Cipher {
            aead: XChaCha20Poly1305::new(key.into()),
            key_id: hex::encode(&digest[..8]),
        }
    }

    /// Parses key text (32 bytes as base64, padded or not, or 64 hex characters; surrounding
    /// whitespace ignored), e.g. the new key of `secrets rotate-key`.
    pub fn from_key_text(text: &str) -> Result<Cipher, SecretError> {
        parse_key(text)
            .map(|k| Cipher::from_key(&k))
            .ok_or_else(|| SecretError::KeyInvalid {
                origin: "key text".into(),
            })
    }

    /// A fresh random key and its text form (base64).
    pub fn generate() -> (Cipher, String) {
        let key: [u8; 32] = XChaCha20Poly1305::generate_key(&mut OsRng).into();
        (Cipher::from_key(&key), key_engine().encode(key))
    }

    /// A short public fingerprint of the key (truncated SHA-256 over a domain tag), so logs and
    /// the rotate command can say which key is in use without showing it.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Encrypts `plaintext` for the row `connection_id`. A fresh random 192-bit nonce each time:
    /// XChaCha's nonce space makes random nonces safe without a counter.
    pub fn seal(&self, connection_id: &str, plaintext: &str) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = associated_data(FORMAT_V1, connection_id);
        let ciphertext = self
            .aead
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            // Encryption only fails for messages beyond ~256 GiB.
            .expect("XChaCha20-Poly1305 encrypts any password");
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(FORMAT_V1);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// Decrypts what `seal` produced for the same connection id.
    pub fn open(&self, connection_id: &str, sealed: &[u8]) -> Result<Secret, SecretError> {
        let unreadable = || SecretError::Unreadable {
            connection_id: connection_id.to_string(),
        };
        if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed[0] != FORMAT_V1 {
            return Err(unreadable());
        }
        let (nonce, ciphertext) = sealed[1..].split_at(NONCE_LEN);
        let aad = associated_data(FORMAT_V1, connection_id);
        let plain = self
            .aead
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| unreadable())?;
        String::from_utf8(plain)
            .map(Secret::new)
            .map_err(|_| unreadable())
    }
}

fn associated_data(format: u8, connection_id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_DOMAIN.len() + 1 + connection_id.len());
    aad.extend_from_slice(AAD_DOMAIN);
    aad.push(format);
    aad.extend_from_slice(connection_id.as_bytes());
    aad
}

fn key_engine() -> GeneralPurpose {
    GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

fn parse_key(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).ok()?
    } else {
        key_engine().decode(text).ok()?
    };
    bytes.try_into().ok()
}

/// The key from `env_value` (the `PULSE_VSPHERE_SECRET_KEY` value) when given, else from
/// `key_file` when it exists, else a new random key written to `key_file` (mode 0600).
///
/// An empty env value is an error, not "unset": silently falling through to a new key file
/// would make every saved password unreadable.
pub fn load_or_create_key(
    env_value: Option<&str>,
    key_file: &Path,
) -> Result<(Cipher, KeySource), SecretError> {
    match load_key(env_value, key_file) {
        Err(SecretError::KeyMissing { .. }) => create_key_file(key_file),
        found => found,
    }
}

/// As [`load_or_create_key`], but a missing key file is `secret_key_missing` instead of a new
/// key: what a rotation needs, since a key invented now opens nothing already stored.
pub fn load_key(
    env_value: Option<&str>,
    key_file: &Path,
) -> Result<(Cipher, KeySource), SecretError> {
    if let Some(text) = env_value {
        let cipher = parse_key(text)
            .map(|k| Cipher::from_key(&k))
            .ok_or_else(|| SecretError::KeyInvalid {
                origin: SECRET_KEY_ENV.into(),
            })?;
        return Ok((cipher, KeySource::Env));
    }
    match read_key_file(key_file)? {
        Some(cipher) => Ok((cipher, KeySource::File(key_file.to_path_buf()))),
        None => Err(SecretError::KeyMissing {
            origin: format!(
                "{SECRET_KEY_ENV} is not set and the key file {} does not exist",
                key_file.display()
            ),
        }),
    }
}

/// A key together with its text, for a key that has to be written somewhere (the new key of a
/// rotation). Debug shows the fingerprint only; the text never leaves except into a key file.
pub struct KeyMaterial {
    cipher: Cipher,
    /// Canonical form (padded base64), whatever form it was given in.
    text: String,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyMaterial(key_id={}, ***)", self.cipher.key_id)
    }
}

impl KeyMaterial {
    /// The key in environment variable `var` (base64 or hex, as [`Cipher::from_key_text`]).
    ///
    /// # Errors
    /// `secret_key_missing` when the variable is unset or empty, `secret_key_invalid` (naming
    /// the variable, never its value) when it is not a 256-bit key.
    pub fn from_env(var: &str) -> Result<KeyMaterial, SecretError> {
        KeyMaterial::from_var(var, std::env::var(var))
    }

    fn from_var(
        var: &str,
        value: Result<String, std::env::VarError>,
    ) -> Result<KeyMaterial, SecretError> {
        match value {
            Ok(text) if !text.trim().is_empty() => KeyMaterial::parse(&text, var),
            Err(std::env::VarError::NotUnicode(_)) => Err(SecretError::KeyInvalid {
                origin: var.to_string(),
            }),
            _ => Err(SecretError::KeyMissing {
                origin: format!("environment variable {var} is not set or empty"),
            }),
        }
    }

    /// The key in file `path` (its text, surrounding whitespace ignored).
    ///
    /// # Errors
    /// `secret_key_unreadable` (including a file that does not exist), `secret_key_invalid`.
    pub fn from_file(path: &Path) -> Result<KeyMaterial, SecretError> {
        let text = std::fs::read_to_string(path).map_err(|e| SecretError::KeyUnreadable {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        KeyMaterial::parse(&text, &path.display().to_string())
    }

    fn parse(text: &str, origin: &str) -> Result<KeyMaterial, SecretError> {
        let key = parse_key(text).ok_or_else(|| SecretError::KeyInvalid {
            origin: origin.to_string(),
        })?;
        Ok(KeyMaterial {
            cipher: Cipher::from_key(&key),
            text: key_engine().encode(key),
        })
    }

    /// The cipher of this key.
    pub fn cipher(&self) -> &Cipher {
        &self.cipher
    }
}

/// A key written next to the key file it will replace, not yet in place: staged before a
/// rotation so that a directory where no file can be written fails the rotation before the
/// store changes, and put in place by one `rename` after it. Dropped uncommitted, it is
/// removed.
#[derive(Debug)]
pub struct StagedKeyFile {
    staged: PathBuf,
    target: PathBuf,
    done: bool,
}

impl StagedKeyFile {
    /// Writes `key` to a new private (0600) file in `target`'s directory and syncs it.
    ///
    /// # Errors
    /// `secret_key_uncreatable` naming `target`.
    pub fn stage(target: &Path, key: &KeyMaterial) -> Result<StagedKeyFile, SecretError> {
        let staged = temp_path_for(target);
        let written = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&staged)?;
            f.write_all(key.text.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()
        })();
        let file = StagedKeyFile {
            staged,
            target: target.to_path_buf(),
            done: false,
        };
        match written {
            Ok(()) => Ok(file),
            // Dropping `file` removes whatever part was written.
            Err(e) => Err(SecretError::KeyUncreatable {
                path: target.display().to_string(),
                reason: e.to_string(),
            }),
        }
    }

    /// Where the staged key is until [`StagedKeyFile::commit`].
    pub fn staged_path(&self) -> &Path {
        &self.staged
    }

    /// Renames the staged file over the target (atomic: a reader sees the old key or the new
    /// one, never a mix), then syncs the directory so the rename survives a crash. When the
    /// rename fails the staged file is kept: it then holds the only copy of the new key.
    ///
    /// # Errors
    /// `secret_key_uncreatable` naming the target.
    pub fn commit(mut self) -> Result<(), SecretError> {
        if let Err(e) = std::fs::rename(&self.staged, &self.target) {
            self.done = true;
            return Err(SecretError::KeyUncreatable {
                path: self.target.display().to_string(),
                reason: e.to_string(),
            });
        }
        self.done = true;
        if let Some(dir) = self.target.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Best effort: the rename is done; a directory that cannot be synced is rare
            // (some network file systems) and the key is in place either way.
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }
}

impl Drop for StagedKeyFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.staged);
        }
    }
}

/// A hidden, unique temporary name next to `path`.
fn temp_path_for(path: &Path) -> PathBuf {
    path.with_file_name(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        uuid::Uuid::new_v4().simple()
    ))
}

fn read_key_file(path: &Path) -> Result<Option<Cipher>, SecretError> {
    let unreadable = |e: std::io::Error| SecretError::KeyUnreadable {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(e)),
    };
    // Loose permissions warn rather than refuse: the file is often a mounted secret
    // (Kubernetes mounts them 0644 by default, inside the pod only) whose mode the operator
    // cannot change, and refusing there would push them to worse workarounds. On a plain host
    // the warning says what to fix.
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                "secret key file is readable by group or others; chmod 600 it"
            );
        }
    }
    parse_key(&text)
        .map(|k| Some(Cipher::from_key(&k)))
        .ok_or_else(|| SecretError::KeyInvalid {
            origin: path.display().to_string(),
        })
}

/// Writes the key to a private temporary file, then hard-links it into place: `link` fails
/// when the target exists, so two processes starting at once never overwrite each other's
/// key, and no reader ever sees a half-written file. The loser reads the winner's key.
fn create_key_file(path: &Path) -> Result<(Cipher, KeySource), SecretError> {
    let uncreatable = |e: std::io::Error| SecretError::KeyUncreatable {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(dir)
            .map_err(uncreatable)?;
    }
    let (cipher, text) = Cipher::generate();
    let tmp = temp_path_for(path);
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => Ok((cipher, KeySource::Created(path.to_path_buf()))),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let cipher = read_key_file(path)?.ok_or_else(|| SecretError::KeyUnreadable {
                path: path.display().to_string(),
                reason: "created by another process and then removed".into(),
            })?;
            Ok((cipher, KeySource::File(path.to_path_buf())))
        }
        Err(e) => Err(uncreatable(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(byte: u8) -> Cipher {
        Cipher::from_key(&[byte; 32])
    }

    #[test]
    fn seal_open_round_trip_with_fresh_nonces() {
        let c = cipher(7);
        let a = c.seal("conn-1", "hunter2");
        let b = c.seal("conn-1", "hunter2");
        assert_ne!(a, b, "a random nonce per seal");
        assert_eq!(a[0], FORMAT_V1);
        assert_eq!(a.len(), 1 + NONCE_LEN + "hunter2".len() + TAG_LEN);
        assert_eq!(c.open("conn-1", &a).unwrap().expose(), "hunter2");
        assert_eq!(c.open("conn-1", &b).unwrap().expose(), "hunter2");
    }

    #[test]
    fn another_row_another_key_or_damage_does_not_open() {
        let c = cipher(7);
        let sealed = c.seal("conn-1", "hunter2");
        for (id, key, bytes) in [
            ("conn-2", cipher(7), sealed.clone()),
            ("conn-1", cipher(8), sealed.clone()),
            ("conn-1", cipher(7), {
                let mut d = sealed.clone();
                *d.last_mut().unwrap() ^= 1;
                d
            }),
            ("conn-1", cipher(7), {
                let mut d = sealed.clone();
                d[0] = 2;
                d
            }),
            ("conn-1", cipher(7), sealed[..10].to_vec()),
        ] {
            let e = key.open(id, &bytes).unwrap_err();
            assert_eq!(e.code(), "secret_unreadable");
            let text = e.to_string();
            assert!(text.contains(id) && !text.contains("hunter2"), "{text}");
        }
    }

    #[test]
    fn plaintext_is_redacted_in_debug() {
        let c = cipher(1);
        let opened = c.open("x", &c.seal("x", "hunter2")).unwrap();
        assert!(!format!("{opened:?}").contains("hunter2"));
        assert!(!format!("{c:?}").contains(&hex::encode([1u8; 32])));
    }

    #[test]
    fn key_text_forms() {
        let key = [0xabu8; 32];
        let hex_text = hex::encode(key);
        let b64 = base64::engine::general_purpose::STANDARD.encode(key);
        let id = Cipher::from_key(&key).key_id().to_string();
        for text in [
            hex_text.clone(),
            hex_text.to_uppercase(),
            b64.clone(),
            b64.trim_end_matches('=').to_string(),
            format!("  {b64}\n"),
        ] {
            assert_eq!(Cipher::from_key_text(&text).unwrap().key_id(), id, "{text}");
        }
        for bad in [
            "",
            "abc",
            &hex_text[..62],
            &base64::engine::general_purpose::STANDARD.encode([1u8; 31]),
        ] {
            let e = Cipher::from_key_text(bad).unwrap_err();
            assert_eq!(e.code(), "secret_key_invalid");
        }
        let (generated, text) = Cipher::generate();
        assert_eq!(
            Cipher::from_key_text(&text).unwrap().key_id(),
            generated.key_id()
        );
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pv-secrets-{tag}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn key_file_is_created_private_then_reused() {
        let dir = temp_dir("create");
        let path = dir.join("keys").join("secret.key");
        let (created, source) = load_or_create_key(None, &path).unwrap();
        assert_eq!(source, KeySource::Created(path.clone()));
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");

        let (again, source) = load_or_create_key(None, &path).unwrap();
        assert_eq!(source, KeySource::File(path.clone()));
        assert_eq!(again.key_id(), created.key_id());
        let sealed = created.seal("c", "pw");
        assert_eq!(again.open("c", &sealed).unwrap().expose(), "pw");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn env_wins_over_file_and_bad_values_are_errors_without_the_value() {
        let dir = temp_dir("env");
        let path = dir.join("secret.key");
        let text = hex::encode([3u8; 32]);
        let (c, source) = load_or_create_key(Some(&text), &path).unwrap();
        assert_eq!(source, KeySource::Env);
        assert_eq!(c.key_id(), Cipher::from_key(&[3u8; 32]).key_id());
        assert!(!path.exists(), "an env key never writes a file");

        let e = load_or_create_key(Some("not-a-key-but-secret"), &path).unwrap_err();
        assert_eq!(e.code(), "secret_key_invalid");
        assert!(e.to_string().contains(SECRET_KEY_ENV));
        assert!(!e.to_string().contains("not-a-key-but-secret"));
        assert_eq!(
            load_or_create_key(Some(""), &path).unwrap_err().code(),
            "secret_key_invalid"
        );

        std::fs::write(&path, "garbage-in-file").unwrap();
        let e = load_or_create_key(None, &path).unwrap_err();
        assert_eq!(e.code(), "secret_key_invalid");
        assert!(!e.to_string().contains("garbage-in-file"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_unreadable_key_file_is_reported() {
        let dir = temp_dir("unreadable");
        // A directory where the file should be: reading fails with something other than NotFound.
        let path = dir.join("secret.key");
        std::fs::create_dir(&path).unwrap();
        let e = load_or_create_key(None, &path).unwrap_err();
        assert_eq!(e.code(), "secret_key_unreadable", "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn load_key_never_invents_one() {
        let dir = temp_dir("load");
        let path = dir.join("secret.key");
        let e = load_key(None, &path).unwrap_err();
        assert_eq!(e.code(), "secret_key_missing", "{e}");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        assert!(!path.exists(), "no key file was created");
        let (created, _) = load_or_create_key(None, &path).unwrap();
        let (loaded, source) = load_key(None, &path).unwrap();
        assert_eq!(source, KeySource::File(path.clone()));
        assert_eq!(loaded.key_id(), created.key_id());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn key_material_from_a_file_and_from_the_environment() {
        let dir = temp_dir("material");
        let path = dir.join("new.key");
        let hex_text = hex::encode([9u8; 32]);
        std::fs::write(&path, format!("{hex_text}\n")).unwrap();
        let m = KeyMaterial::from_file(&path).unwrap();
        assert_eq!(m.cipher().key_id(), cipher(9).key_id());
        assert!(!format!("{m:?}").contains(&hex_text));
        assert_eq!(
            KeyMaterial::from_file(&dir.join("absent"))
                .unwrap_err()
                .code(),
            "secret_key_unreadable"
        );
        std::fs::write(&path, "short-and-secret").unwrap();
        let e = KeyMaterial::from_file(&path).unwrap_err();
        assert_eq!(e.code(), "secret_key_invalid");
        assert!(!e.to_string().contains("short-and-secret"), "{e}");

        // The variable's value as `std::env::var` returns it (setting the real environment
        // would race the other test threads reading it).
        let var = "NEW_KEY";
        for unset in [Err(std::env::VarError::NotPresent), Ok(" ".into())] {
            let e = KeyMaterial::from_var(var, unset).unwrap_err();
            assert_eq!(e.code(), "secret_key_missing");
            assert!(e.to_string().contains(var), "{e}");
        }
        let e = KeyMaterial::from_var(var, Ok("not-a-key-but-secret".into())).unwrap_err();
        assert_eq!(e.code(), "secret_key_invalid");
        assert!(e.to_string().contains(var) && !e.to_string().contains("not-a-key-but-secret"));
        assert_eq!(
            KeyMaterial::from_var(var, Ok(hex_text.clone()))
                .unwrap()
                .cipher()
                .key_id(),
            cipher(9).key_id()
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_staged_key_replaces_the_file_privately_or_leaves_nothing() {
        let dir = temp_dir("stage");
        let path = dir.join("secret.key");
        let (old, _) = load_or_create_key(None, &path).unwrap();
        std::fs::write(dir.join("new.key"), hex::encode([5u8; 32])).unwrap();
        let new = KeyMaterial::from_file(&dir.join("new.key")).unwrap();

        // Abandoned (the rotation failed): the key file is untouched, no temporary file stays.
        let staged = StagedKeyFile::stage(&path, &new).unwrap();
        assert!(staged.staged_path().exists());
        drop(staged);
        assert_eq!(load_key(None, &path).unwrap().0.key_id(), old.key_id());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);

        StagedKeyFile::stage(&path, &new).unwrap().commit().unwrap();
        assert_eq!(
            load_key(None, &path).unwrap().0.key_id(),
            cipher(5).key_id()
        );
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2, "no leftovers");

        let e = StagedKeyFile::stage(&dir.join("absent-dir").join("secret.key"), &new).unwrap_err();
        assert_eq!(e.code(), "secret_key_uncreatable", "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn concurrent_creators_agree_on_one_key() {
        let dir = temp_dir("race");
        let path = dir.join("secret.key");
        let ids: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        load_or_create_key(None, &path)
                            .unwrap()
                            .0
                            .key_id()
                            .to_string()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
