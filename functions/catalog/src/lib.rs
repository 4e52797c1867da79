//! The `catalog` component: the public `/api/catalog/*` routes.

use serde_json::json;
use spincat::catalog::cache::CatalogCache;
use spincat::catalog::{self, CategoryFilter, SearchQuery};
use spincat::http::{ApiError, Ctx, Page, Paging, Reply};
use spincat::money::Rupiah;

/// How long clients and CDNs may reuse a catalog answer before revalidating its ETag.
const MAX_AGE_SECONDS: u32 = 60;

spincat::component!(route, ROUTES, kv = spincat::spin::SpinStore::default());

/// What `route` matches.
const ROUTES: spincat::http::Routes = &[
    ("GET", "/api/health"),
    ("GET", "/api/catalog/categories"),
    ("GET", "/api/catalog/categories/:slug/services"),
    ("GET", "/api/catalog/services/:slug"),
    ("GET", "/api/catalog/search"),
];

async fn route(ctx: &Ctx) -> Result<Reply, ApiError> {
    let segments = ctx.request.segments();
    let answer = match (ctx.request.method.as_str(), segments.as_slice()) {
        ("GET", ["api", "health"]) => return health(ctx).await,
        ("GET", ["api", "catalog", "categories"]) => Answer::Categories,
        ("GET", ["api", "catalog", "categories", slug, "services"]) => Answer::InCategory(slug),
        ("GET", ["api", "catalog", "services", slug]) => Answer::Service(slug),
        ("GET", ["api", "catalog", "search"]) => Answer::Search,
        _ => {
            return Err(ApiError::route_not_found(
                &ctx.request.method,
                &ctx.request.path,
            ))
        }
    };
    let request = format!("{}?{}", ctx.request.path, ctx.request.query);
    let cache = CatalogCache::open(ctx.ports.kv.as_ref(), ctx.now).await;
    let reply = match cache.find(&request).await {
        Some(kept) => kept,
        None => {
            let reply = answer.query(ctx).await?;
            cache.keep(&request, &reply).await;
            reply
        }
    };
    Ok(reply.cacheable(MAX_AGE_SECONDS))
}

/// What a catalog route answers, before it is looked up.
enum Answer<'a> {
    Categories,
    InCategory(&'a str),
    Service(&'a str),
    Search,
}

impl Answer<'_> {
    async fn query(self, ctx: &Ctx) -> Result<Reply, ApiError> {
        match self {
            Answer::Categories => categories(ctx).await,
            Answer::InCategory(slug) => services_in_category(ctx, slug).await,
            Answer::Service(slug) => service(ctx, slug).await,
            Answer::Search => search(ctx).await,
        }
    }
}

/// Up when the database answers.
async fn health(ctx: &Ctx) -> Result<Reply, ApiError> {
    let unavailable = |error: spincat::ports::DbError| ApiError::database_unavailable(error);
    let conn = ctx.ports.db.connect().await.map_err(unavailable)?;
    conn.query("SELECT 1", &[]).await.map_err(unavailable)?;
    Ok(Reply::ok(
        "Healthy",
        json!({ "status": "ok", "database": "ok" }),
    ))
}

async fn categories(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut query = ctx.query();
    let paging = Paging::from_query(&mut query);
    query.finish(|| Some(()))?;
    let conn = ctx.db().await?;
    let categories = catalog::categories(conn.as_ref()).await?;
    Ok(Reply::ok(
        "Categories",
        Page::of_all(categories, paging).to_json(),
    ))
}

async fn services_in_category(ctx: &Ctx, slug: &str) -> Result<Reply, ApiError> {
    let mut query = ctx.query();
    let featured = query.optional("featured", |v| v.boolean());
    let paging = Paging::from_query(&mut query);
    let filter = query.finish(|| Some(CategoryFilter { featured, paging }))?;
    let conn = ctx.db().await?;
    let page = catalog::services_in_category(conn.as_ref(), slug, &filter).await?;
    Ok(Reply::ok("Services", page.to_json()))
}

async fn service(ctx: &Ctx, slug: &str) -> Result<Reply, ApiError> {
    let conn = ctx.db().await?;
    let detail = catalog::service_detail(conn.as_ref(), slug).await?;
    Ok(Reply::ok("Service", json!(detail)))
}

async fn search(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut query = ctx.query();
    let text = query.optional("q", |v| bounded_text(v.text()?, 100));
    let category = query.optional("category", |v| bounded_text(v.text()?, 100));
    let tags = query
        .optional("tags", |v| {
            Ok(v.text()?
                .split(',')
                .map(|t| t.trim().to_lowercase())
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>())
        })
        .unwrap_or_default();
    let min_price = query.optional("minPrice", price);
    let max_price = query.optional("maxPrice", price);
    if let (Some(min), Some(max)) = (min_price, max_price) {
        if min > max {
            query.reject("maxPrice", "must not be below minPrice");
        }
    }
    let paging = Paging::from_query(&mut query);
    let search = query.finish(|| {
        Some(SearchQuery {
            text,
            category,
            tags,
            min_price,
            max_price,
            paging,
        })
    })?;
    let conn = ctx.db().await?;
    let page = catalog::search(conn.as_ref(), &search).await?;
    Ok(Reply::ok("Search results", page.to_json()))
}

fn price(input: spincat::http::Input<'_>) -> Result<Rupiah, String> {
    let amount = input.integer()?;
    if amount < 0 {
        return Err("must not be negative".into());
    }
    Ok(Rupiah::new(amount))
}

fn bounded_text(text: &str, max_chars: usize) -> Result<String, String> {
    let text = text.trim();
    if text.chars().count() > max_chars {
        return Err(format!("must be at most {max_chars} characters"));
    }
    Ok(text.to_owned())
}
