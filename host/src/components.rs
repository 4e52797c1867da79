//! The native build of every component that spin.toml may name.

use std::collections::BTreeMap;

use spincat::http::{Request, Response};
use spincat::ports::{BoxFuture, Ports};

use crate::server::Handler;

macro_rules! handler {
    ($handle:path) => {{
        fn call<'a>(request: Request, ports: &'a Ports) -> BoxFuture<'a, Response> {
            Box::pin($handle(request, ports))
        }
        call as Handler
    }};
}

pub fn builtin() -> BTreeMap<String, Handler> {
    BTreeMap::from([
        ("auth".to_owned(), handler!(spincat_auth::handle)),
        ("catalog".to_owned(), handler!(spincat_catalog::handle)),
        ("admin".to_owned(), handler!(spincat_admin::handle)),
        ("wallet".to_owned(), handler!(spincat_wallet::handle)),
        (
            "midtrans-webhook".to_owned(),
            handler!(spincat_midtrans_webhook::handle),
        ),
        ("jobs".to_owned(), handler!(spincat_jobs::handle)),
        (
            "subscription".to_owned(),
            handler!(spincat_subscription::handle),
        ),
        ("instance".to_owned(), handler!(spincat_instance::handle)),
        (
            "notifications".to_owned(),
            handler!(spincat_notifications::handle),
        ),
        ("docs".to_owned(), handler!(spincat_docs::handle)),
    ])
}
