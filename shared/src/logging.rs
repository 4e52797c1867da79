//! JSON-lines logs on stderr, which Spin and the native host both collect: one line per event,
//! `{"timestamp","level","fields":{"message",...},"target","span":{...,"name"}}`, the span being
//! the innermost one the event happened in (a request's, naming its `request_id`).
//!
//! A subscriber of our own rather than `tracing-subscriber`'s: a Spin component sets logging up
//! for every request it serves, and that crate's registry cost wasm size and set-up time the
//! few spans we open do not need.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Debug;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use chrono::{SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Sets the subscriber up. Safe to call more than once: later calls keep the first one.
pub fn init() {
    let _ = tracing::subscriber::set_global_default(JsonLines::default());
}

#[derive(Default)]
struct JsonLines {
    spans: Mutex<HashMap<u64, Span>>,
    last_id: AtomicU64,
}

struct Span {
    name: &'static str,
    fields: Map<String, Value>,
    handles: usize,
}

thread_local! {
    /// The spans entered on this thread, innermost last.
    static ENTERED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
}

impl JsonLines {
    fn spans(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Span>> {
        self.spans
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Subscriber for JsonLines {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= LevelFilter::INFO
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::INFO)
    }

    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let id = self.last_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mut fields = Map::new();
        attributes.record(&mut Fields(&mut fields));
        let span = Span {
            name: attributes.metadata().name(),
            fields,
            handles: 1,
        };
        self.spans().insert(id, span);
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some(span) = self.spans().get_mut(&span.into_u64()) {
            values.record(&mut Fields(&mut span.fields));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Map::new();
        event.record(&mut Fields(&mut fields));
        let metadata = event.metadata();
        let mut line = json!({
            "timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
            "level": metadata.level().as_str(),
            "fields": fields,
            "target": metadata.target(),
        });
        let current = ENTERED.with(|entered| entered.borrow().last().copied());
        if let Some(span) = current.and_then(|id| {
            self.spans().get(&id).map(|span| {
                let mut fields = span.fields.clone();
                fields.insert("name".into(), span.name.into());
                fields
            })
        }) {
            line["span"] = Value::Object(span);
        }
        // One write per line, so lines of concurrent requests never interleave.
        let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
    }

    fn enter(&self, span: &Id) {
        ENTERED.with(|entered| entered.borrow_mut().push(span.into_u64()));
    }

    fn exit(&self, span: &Id) {
        ENTERED.with(|entered| {
            let mut entered = entered.borrow_mut();
            if let Some(at) = entered.iter().rposition(|id| *id == span.into_u64()) {
                entered.remove(at);
            }
        });
    }

    fn clone_span(&self, span: &Id) -> Id {
        if let Some(span) = self.spans().get_mut(&span.into_u64()) {
            span.handles += 1;
        }
        span.clone()
    }

    fn try_close(&self, span: Id) -> bool {
        let mut spans = self.spans();
        let Some(entry) = spans.get_mut(&span.into_u64()) else {
            return false;
        };
        entry.handles -= 1;
        let closed = entry.handles == 0;
        if closed {
            spans.remove(&span.into_u64());
        }
        closed
    }
}
