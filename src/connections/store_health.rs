//! Whether the store answers, as operators see it. Every store call reports its outcome here,
//! and a periodic ping keeps it true while nobody writes, so a PostgreSQL that goes away shows
//! in health before the next onboarding change fails on it. Collecting and serving never
//! depend on the store: only onboarding and the audit log do.

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};

use crate::store::StoreError;

/// The store's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreHealth {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// The last call (or ping) succeeded.
    pub ok: bool,
    pub last_ok_at: Option<DateTime<Utc>>,
    /// Code (`store_unavailable`, ...) and message of the last failure.
    pub last_error_code: Option<&'static str>,
    pub last_error_message: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// Calls that failed since the start.
    pub failures: u64,
}

/// The shared, lock-free view.
#[derive(Debug)]
pub struct StoreWatch {
    health: ArcSwap<StoreHealth>,
}

impl StoreWatch {
    pub fn new(backend: &'static str) -> StoreWatch {
        StoreWatch {
            health: ArcSwap::from_pointee(StoreHealth {
                backend,
                ok: true,
                last_ok_at: Some(Utc::now()),
                ..StoreHealth::default()
            }),
        }
    }

    /// Records the outcome of one store call. Only failures of the store itself count: a
    /// conflict or a taken name is the caller's, and says the store answered.
    pub fn observe<T>(&self, r: &Result<T, StoreError>) {
        let failed = match r {
            Err(e @ (StoreError::Unavailable { .. } | StoreError::QueryFailed { .. })) => Some(e),
            _ => None,
        };
        self.health.rcu(|h| {
            let mut next = (**h).clone();
            match failed {
                Some(e) => {
                    next.ok = false;
                    next.last_error_code = Some(e.code());
                    next.last_error_message = Some(e.to_string());
                    next.last_error_at = Some(Utc::now());
                    next.failures += 1;
                }
                None => {
                    next.ok = true;
                    next.last_ok_at = Some(Utc::now());
                }
            }
            next
        });
    }

    pub fn health(&self) -> StoreHealth {
        (**self.health.load()).clone()
    }
}
