//! One session per API family, created in exactly one place: concurrent callers wait for the
//! same login, a stale token is only dropped by the caller that saw it fail, and failed logins
//! back off exponentially so a wrong password never turns into a lockout loop.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::error::{FailureClass, VcError, VcResult};

/// Time as the session slot sees it; tests advance a manual clock to simulate hours of polling.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Instant;
}

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    offset_ms: AtomicU64,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock {
            start: Instant::now(),
            offset_ms: AtomicU64::new(0),
        }
    }
}

impl ManualClock {
    pub fn advance(&self, d: Duration) {
        self.offset_ms
            .fetch_add(d.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + Duration::from_millis(self.offset_ms.load(Ordering::SeqCst))
    }
}

/// The wait before login attempt `n + 1` after `n` consecutive failures.
///
/// Rejected credentials wait 1 min, 2, 4, ... up to 30 min: at most 6 attempts in the first
/// hour, far below any lockout policy. Unreachable or busy vCenters retry sooner (5 s doubling
/// up to 2 min) because nothing is wrong with the credentials.
pub fn login_backoff(class: FailureClass, failures: u32) -> Duration {
    let (base, cap) = match class {
        FailureClass::AuthInvalid | FailureClass::PermissionDenied => (60, 1800),
        _ => (5, 120),
    };
    let exp = failures.saturating_sub(1).min(16);
    Duration::from_secs((base << exp).min(cap))
}

#[derive(Debug, Default)]
struct State {
    token: Option<Arc<str>>,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<VcError>,
}

/// A family's session.
#[derive(Debug)]
pub struct SessionSlot {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
    logins: AtomicU64,
    epoch: AtomicU64,
    /// Mirrors whether `state` holds a token, readable while a login holds the lock.
    held: AtomicBool,
    /// Failed logins by failure class.
    failures: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
    /// The (vCenter, user) whose rejected logins this slot shares with every other client of
    /// the process; `None`: only its own backoff.
    credential: Option<String>,
}

/// Rejected logins of one user at one vCenter, across every client of the process. vCenter SSO
/// locks an account after a few failures whoever sent them, so two connections (or two API
/// families) with the same wrong password must share one backoff, not run one each.
#[derive(Debug, Default)]
struct CredentialGate {
    rejected: std::sync::Mutex<std::collections::HashMap<String, Rejected>>,
}

#[derive(Debug)]
struct Rejected {
    failures: u32,
    retry_at: Instant,
    error: VcError,
}

fn gate() -> &'static CredentialGate {
    static GATE: std::sync::OnceLock<CredentialGate> = std::sync::OnceLock::new();
    GATE.get_or_init(CredentialGate::default)
}

impl CredentialGate {
    fn blocked(&self, key: &str, now: Instant) -> Option<VcError> {
        let map = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
        let r = map.get(key)?;
        (now < r.retry_at).then(|| {
            let mut e = r.error.clone();
            e.message = format!(
                "{} (next login attempt for this user in {} s)",
                r.error.message,
                (r.retry_at - now).as_secs()
            );
            e
        })
    }

    fn record(&self, key: &str, result: &VcResult<String>, now: Instant) {
        let mut map = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Err(e) if e.class == FailureClass::AuthInvalid => {
                let failures = map.get(key).map_or(0, |r| r.failures) + 1;
                map.insert(
                    key.to_string(),
                    Rejected {
                        failures,
                        retry_at: now + login_backoff(e.class, failures),
                        error: e.clone(),
                    },
                );
            }
            Ok(_) => {
                map.remove(key);
            }
            Err(_) => {}
        }
    }
}

impl SessionSlot {
    pub fn new(clock: Arc<dyn Clock>) -> SessionSlot {
        SessionSlot {
            state: Mutex::default(),
            clock,
            logins: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            held: AtomicBool::new(false),
            failures: std::sync::Mutex::default(),
            credential: None,
        }
    }

    /// A slot whose rejected logins count, process-wide, for `user` with this `password` at
    /// `endpoint`. The password is part of the key (hashed) so that a corrected password is
    /// tried at once while the same wrong one waits.
    pub fn for_credential(
        clock: Arc<dyn Clock>,
        endpoint: &str,
        user: &str,
        password: &str,
    ) -> SessionSlot {
        use sha2::{Digest, Sha256};
        let key = Sha256::new()
            .chain_update(endpoint.to_ascii_lowercase())
            .chain_update([0])
            .chain_update(user.to_lowercase())
            .chain_update([0])
            .chain_update(password)
            .finalize();
        SessionSlot {
            credential: Some(hex::encode(key)),
            ..SessionSlot::new(clock)
        }
    }

    /// The current token, logging in first (once, for all waiting callers) when there is none.
    pub async fn token<F, Fut>(&self, login: F) -> VcResult<Arc<str>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = VcResult<String>>,
    {
        let mut s = self.state.lock().await;
        if let Some(t) = &s.token {
            return Ok(t.clone());
        }
        if let (Some(at), Some(err)) = (s.retry_at, &s.last_error) {
            let now = self.clock.now();
            if now < at {
                let mut e = err.clone();
                e.message = format!(
                    "{} (next login attempt in {} s)",
                    err.message,
                    (at - now).as_secs()
                );
                return Err(e);
            }
        }
        if let Some(e) = self
            .credential
            .as_deref()
            .and_then(|k| gate().blocked(k, self.clock.now()))
        {
            return Err(e);
        }
        self.logins.fetch_add(1, Ordering::SeqCst);
        let result = login().await;
        if let Some(k) = &self.credential {
            gate().record(k, &result, self.clock.now());
        }
        match result {
            Ok(t) => {
                let t: Arc<str> = t.into();
                s.token = Some(t.clone());
                s.failures = 0;
                s.retry_at = None;
                s.last_error = None;
                self.epoch.fetch_add(1, Ordering::SeqCst);
                self.held.store(true, Ordering::Relaxed);
                Ok(t)
            }
            Err(e) => {
                s.failures += 1;
                s.retry_at = Some(self.clock.now() + login_backoff(e.class, s.failures));
                s.last_error = Some(e.clone());
                if let Ok(mut f) = self.failures.lock() {
                    *f.entry(e.class.as_str()).or_default() += 1;
                }
                Err(e)
            }
        }
    }

    /// Forgets `token` if it is still the current one (a newer login is kept).
    pub async fn invalidate(&self, token: &str) {
        let mut s = self.state.lock().await;
        if s.token.as_deref() == Some(token) {
            s.token = None;
            self.held.store(false, Ordering::Relaxed);
        }
    }

    /// Takes the token away for logout.
    pub async fn take(&self) -> Option<Arc<str>> {
        let t = self.state.lock().await.token.take();
        self.held.store(false, Ordering::Relaxed);
        t
    }

    /// Takes the token without waiting (for `Drop`); `None` if busy or absent.
    pub fn try_take(&self) -> Option<Arc<str>> {
        let t = self.state.try_lock().ok().and_then(|mut s| s.token.take());
        if t.is_some() {
            self.held.store(false, Ordering::Relaxed);
        }
        t
    }

    /// The token, if a session exists now; never logs in.
    pub async fn current(&self) -> Option<Arc<str>> {
        self.state.lock().await.token.clone()
    }

    /// Login attempts so far.
    pub fn logins(&self) -> u64 {
        self.logins.load(Ordering::SeqCst)
    }

    /// Whether a session is held now, without waiting for a login in progress.
    pub fn held(&self) -> bool {
        self.held.load(Ordering::Relaxed)
    }

    /// Failed login attempts so far, by failure class (`auth_invalid`, ...).
    pub fn login_failures(&self) -> Vec<(&'static str, u64)> {
        self.failures
            .lock()
            .map(|f| f.iter().map(|(c, n)| (*c, *n)).collect())
            .unwrap_or_default()
    }

    /// Successful logins so far: a change means session-scoped objects are gone.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// The last login failure while no session exists.
    pub async fn last_error(&self) -> Option<VcError> {
        let s = self.state.lock().await;
        if s.token.is_some() {
            None
        } else {
            s.last_error.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_password_backoff_allows_few_attempts_per_hour() {
        let mut t = 0u64;
        let mut attempts = 0;
        let mut failures = 0;
        while t < 3600 {
            attempts += 1;
            failures += 1;
            t += login_backoff(FailureClass::AuthInvalid, failures).as_secs();
        }
        assert!(attempts <= 6, "{attempts}");
        assert_eq!(
            login_backoff(FailureClass::Timeout, 1),
            Duration::from_secs(5)
        );
        assert_eq!(
            login_backoff(FailureClass::Timeout, 30),
            Duration::from_secs(120)
        );
    }
}
