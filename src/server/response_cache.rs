//! Reuse of `POST /graphql` responses while nothing they read has changed: the key, the
//! `ETag`, the bodies kept, and which documents may be reused at all. The contract and why:
//! docs/decisions.md ("GraphQL responses reused by snapshot generation") and
//! docs/architecture.md ("Caching GraphQL responses").
//!
//! A response is a function of the request, the caller's role (the schema and what a role may
//! see) and the state of the connections: the registry's version and every slot's generation
//! (`Registry::write_state`). The key hashes exactly those, from the bytes the handler already
//! has: no re-serialisation. Two independently keyed SipHash-1-3 hashers make it 128 bits;
//! their keys are random per process, so an `ETag` from before a restart (when generations
//! start again from 0) never matches.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue};
use moka::policy::EvictionPolicy;

use crate::auth::Role;
use crate::connections::Registry;

/// The default byte budget of the kept bodies (`ServerLimits::response_cache_bytes`).
pub const RESPONSE_CACHE_BYTES: u64 = 64 << 20;

/// `Cache-Control` of a reusable response: stored by the client only (its answer depends on
/// the credential), and revalidated with its `ETag` before every use, because the data is
/// current only while the generations hold, which no lifetime given in advance can promise.
pub const REUSABLE: HeaderValue = HeaderValue::from_static("private, max-age=0, must-revalidate");
/// `Cache-Control` of everything else: errors, mutations, and answers that read the store,
/// the clock or vCenter on demand.
pub const NOT_REUSABLE: HeaderValue = HeaderValue::from_static("no-store");

/// Documents whose reusability is remembered; a document seen for the first time is run
/// without single-flight to learn it.
const DOCUMENTS_KEPT: usize = 10_000;
/// A kept body nobody asked for in this long is dropped (an older generation's, mostly).
const IDLE: Duration = Duration::from_secs(300);
/// Keys remembered as asked for once: a body is kept only when its key comes again. Pages
/// fetched once (a frontend paging with new cursors, wide questions) then keep nothing: kept
/// on first sight they filled the budget within a second of unique requests and raised the
/// service's peak RSS by ~120 MB, for no hit.
const ASKED_KEPT: u64 = 100_000;

/// What identifies a response: see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key(u128);

impl Key {
    /// The weak `ETag` of the response under this key.
    pub fn etag(self) -> HeaderValue {
        HeaderValue::from_str(&format!("W/\"{:032x}\"", self.0)).expect("hex is a valid header")
    }

    /// Whether `If-None-Match` names this key's `ETag` (weak comparison, as RFC 9110 asks for
    /// `If-None-Match`). `*` is not honoured: whether a response exists is only known by
    /// running the request.
    pub fn matches(self, headers: &HeaderMap) -> bool {
        let tag = format!("\"{:032x}\"", self.0);
        headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim())
            .any(|t| t.strip_prefix("W/").unwrap_or(t) == tag)
    }
}

/// The cache of one server: kept bodies, learnt documents, counters.
pub struct ResponseCache {
    /// `None` when the byte budget is 0: `ETag`s and 304s still work.
    bodies: Option<moka::future::Cache<Key, Bytes>>,
    /// Keys asked for once (see [`ASKED_KEPT`]).
    asked: moka::future::Cache<Key, ()>,
    /// Whether a document (by role, text and operation name) is a query whose fields all
    /// read only the slots' state, as its first execution showed.
    documents: RwLock<HashMap<Key, bool>>,
    seeds: (RandomState, RandomState),
    /// Responses served from a kept body (waiting for an identical execution included).
    pub hits: AtomicU64,
    /// Reusable responses that had to be computed.
    pub misses: AtomicU64,
    /// 304 answers to a matching `If-None-Match`.
    pub not_modified: AtomicU64,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("bytes", &self.weighted_bytes())
            .finish_non_exhaustive()
    }
}

impl ResponseCache {
    /// A cache keeping at most `max_bytes` of bodies.
    pub fn new(max_bytes: u64) -> ResponseCache {
        let bodies = (max_bytes > 0).then(|| {
            moka::future::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_, body: &Bytes| u32::try_from(body.len()).unwrap_or(u32::MAX))
                // Least recently used, not TinyLFU: after a generation changes every key is
                // new, and admission by frequency would keep the old generation's bodies.
                .eviction_policy(EvictionPolicy::lru())
                .time_to_idle(IDLE)
                .build()
        });
        ResponseCache {
            bodies,
            asked: moka::future::Cache::builder()
                .max_capacity(ASKED_KEPT)
                .time_to_idle(IDLE)
                .build(),
            documents: RwLock::default(),
            seeds: (RandomState::new(), RandomState::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            not_modified: AtomicU64::new(0),
        }
    }

    /// The kept bodies, when the budget is not 0.
    pub fn bodies(&self) -> Option<&moka::future::Cache<Key, Bytes>> {
        self.bodies.as_ref()
    }

    /// Bytes of kept bodies (`/metrics`).
    pub fn weighted_bytes(&self) -> u64 {
        self.bodies.as_ref().map_or(0, |b| b.weighted_size())
    }

    fn hash(&self, write: impl Fn(&mut dyn Hasher)) -> Key {
        let (mut a, mut b) = (self.seeds.0.build_hasher(), self.seeds.1.build_hasher());
        write(&mut a);
        write(&mut b);
        Key((u128::from(a.finish()) << 64) | u128::from(b.finish()))
    }

    /// The key of a request: its raw body (document or persisted hash, operation name,
    /// variables), the caller's role and the state of the connections now.
    pub fn key(&self, role: Role, body: &[u8], registry: &Registry) -> Key {
        self.hash(|h| {
            h.write_u8(role as u8);
            h.write_usize(body.len());
            h.write(body);
            registry.write_state(&mut &mut *h);
        })
    }

    /// The key of a document as `role` runs it.
    pub fn document(&self, role: Role, query: &str, operation: Option<&str>) -> Key {
        self.hash(|h| {
            h.write_u8(role as u8);
            h.write_usize(query.len());
            h.write(query.as_bytes());
            if let Some(op) = operation {
                h.write(op.as_bytes());
            }
        })
    }

    /// Whether the response under `key` is worth keeping: it is kept, or was asked for before
    /// (remembered from now on).
    pub async fn asked_again(&self, key: Key) -> bool {
        if self.bodies.as_ref().is_some_and(|b| b.contains_key(&key)) {
            return true;
        }
        let again = self.asked.contains_key(&key);
        if !again {
            self.asked.insert(key, ()).await;
        }
        again
    }

    /// Whether `document` is reusable, once an execution has shown it.
    pub fn reusable(&self, document: Key) -> Option<bool> {
        self.documents
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&document)
            .copied()
    }

    /// Remembers what an execution of `document` showed.
    pub fn learn(&self, document: Key, reusable: bool) {
        let mut documents = self.documents.write().unwrap_or_else(|p| p.into_inner());
        // A client inventing documents only makes the others be learnt again.
        if documents.len() >= DOCUMENTS_KEPT {
            documents.clear();
        }
        documents.insert(document, reusable);
    }

    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::CollectorConfig;

    #[test]
    fn the_key_follows_the_request_the_role_and_the_state() {
        let cache = ResponseCache::new(1 << 20);
        let reg = Registry::new(CollectorConfig::default());
        let slot = reg.attach("a", "vc-a");
        let body = br#"{"query":"{ vsphereVms { totalCount } }"}"#;
        let k = cache.key(Role::Reader, body, &reg);
        assert_eq!(k, cache.key(Role::Reader, body, &reg), "stable");
        assert_ne!(k, cache.key(Role::Assistant, body, &reg), "per role");
        assert_ne!(k, cache.key(Role::Reader, b"{}", &reg), "per request");
        slot.set_name("renamed");
        assert_ne!(k, cache.key(Role::Reader, body, &reg), "per state");
        let other = ResponseCache::new(0);
        assert_ne!(
            cache.key(Role::Reader, body, &reg),
            other.key(Role::Reader, body, &reg),
            "per process"
        );
    }

    #[tokio::test]
    async fn a_body_is_worth_keeping_from_its_second_ask() {
        let cache = ResponseCache::new(1 << 20);
        let (a, b) = (Key(1), Key(2));
        assert!(!cache.asked_again(a).await, "first sight");
        assert!(cache.asked_again(a).await);
        assert!(!cache.asked_again(b).await, "per key");
        cache
            .bodies()
            .expect("a budget")
            .insert(b, Bytes::from_static(b"{}"))
            .await;
        assert!(cache.asked_again(b).await, "kept");
    }

    #[test]
    fn if_none_match_names_the_etag_weakly_or_in_a_list() {
        let k = Key(0xabc);
        let etag = k.etag();
        let header = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                header::IF_NONE_MATCH,
                HeaderValue::from_str(v).expect("value"),
            );
            h
        };
        let strong = etag.to_str().expect("ascii").trim_start_matches("W/");
        assert!(k.matches(&header(etag.to_str().expect("ascii"))));
        assert!(k.matches(&header(strong)));
        assert!(k.matches(&header(&format!(
            "W/\"x\", {}",
            etag.to_str().expect("ascii")
        ))));
        assert!(!k.matches(&header("W/\"x\"")));
        assert!(!k.matches(&header("*")));
        assert!(!k.matches(&HeaderMap::new()));
    }
}
