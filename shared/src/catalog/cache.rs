//! Catalog answers kept in the key-value store, so that a catalog read costs no database round
//! trip. Every kept answer carries the catalog's generation when its query began; an
//! administrator's write draws a new generation (`retire`), which retires every kept answer at
//! once, on every replica that shares the store. Quota, which every subscription moves, is kept
//! fresh by age instead: an answer is served for `FRESH_FOR` at most (clients may reuse it for
//! a minute anyway, and subscribing checks the real quota).
//!
//! Answers sit in a fixed number of slots chosen by a hash of the request, so searches for ever
//! new text cannot grow the store: a slot holds the last answer put in it, with its request.

use std::borrow::Cow;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::http::Reply;
use crate::ports::KeyValue;

/// How long a kept answer may be served: how late the available quota may be.
pub const FRESH_FOR: Duration = Duration::seconds(5);

const GENERATION_KEY: &str = "catalog:generation";

/// How many answers the store holds at most.
const SLOTS: u32 = 4096;

/// The cache as one request sees it: the generation it began under, or nothing when the store
/// could not be read (then every answer comes from the database).
pub struct CatalogCache<'a> {
    kv: &'a dyn KeyValue,
    generation: Option<String>,
    now: DateTime<Utc>,
}

/// What a slot holds: this header as one JSON line, then the answer's data as it was
/// serialized, so serving it parses no more than the header.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Kept<'a> {
    #[serde(borrow)]
    request: Cow<'a, str>,
    #[serde(borrow)]
    generation: Cow<'a, str>,
    stored_at_ms: i64,
    message: String,
}

impl<'a> CatalogCache<'a> {
    /// Reads the generation first, so an answer queried after it is kept under it: an edit
    /// committed meanwhile has drawn a new one and retires the answer.
    pub async fn open(kv: &'a dyn KeyValue, now: DateTime<Utc>) -> Self {
        let generation = match kv.get(GENERATION_KEY).await {
            // None before the first edit: the empty generation.
            Ok(bytes) => Some(String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned()),
            Err(error) => {
                tracing::warn!(%error, "catalog cache unavailable");
                None
            }
        };
        Self {
            kv,
            generation,
            now,
        }
    }

    /// The kept answer to `request` (method, path and query), if it is current.
    pub async fn find(&self, request: &str) -> Option<Reply> {
        let generation = self.generation.as_deref()?;
        let bytes = self.kv.get(&slot(request)).await.ok()??;
        let (header, data) = std::str::from_utf8(&bytes).ok()?.split_once('\n')?;
        let kept: Kept = serde_json::from_str(header).ok()?;
        let age = self.now.timestamp_millis() - kept.stored_at_ms;
        let current = kept.request == request
            && kept.generation == generation
            && (0..FRESH_FOR.num_milliseconds()).contains(&age);
        current.then(|| Reply::kept(kept.message, data.to_owned()))
    }

    /// Keeps a 200 answer to `request`; anything else is answered afresh every time.
    pub async fn keep(&self, request: &str, reply: &Reply) {
        let (Some(generation), Some((message, data))) = (&self.generation, reply.kept_parts())
        else {
            return;
        };
        let kept = Kept {
            request: request.into(),
            generation: generation.into(),
            stored_at_ms: self.now.timestamp_millis(),
            message: message.to_owned(),
        };
        let mut bytes = serde_json::to_vec(&kept).expect("a kept header serializes");
        bytes.push(b'\n');
        bytes.extend_from_slice(data.as_bytes());
        if let Err(error) = self.kv.set(&slot(request), &bytes).await {
            tracing::warn!(%error, "could not keep a catalog answer");
        }
    }
}

/// Retires every kept answer: call it after a write that changes what the catalog shows has
/// committed. When the store cannot be written, answers go stale for `FRESH_FOR` at most.
pub async fn retire(kv: &dyn KeyValue) {
    let generation = uuid::Uuid::new_v4().simple().to_string();
    if let Err(error) = kv.set(GENERATION_KEY, generation.as_bytes()).await {
        tracing::error!(%error, "could not retire the kept catalog answers");
    }
}

fn slot(request: &str) -> String {
    let digest = Sha256::digest(request.as_bytes());
    let slot = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % SLOTS;
    format!("catalog:answer:{slot}")
}
