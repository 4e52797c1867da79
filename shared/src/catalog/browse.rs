//! Reading the public catalog. Only active categories, active public services and active plans
//! are ever visible here.

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::{CatalogError, PlanTier};
use crate::http::{Page, Paging};
use crate::money::Rupiah;
use crate::params;
use crate::ports::db::{contains_pattern, Connection, DbError, FromRow, Param, Row};

/// A service is visible when it, and its category, are live.
const VISIBLE_SERVICE: &str = "s.is_active AND s.is_public AND s.deleted_at IS NULL
     AND c.is_active AND c.deleted_at IS NULL";

const SERVICE_SUMMARY: &str = "s.id, s.slug, s.name, s.short_description, s.icon_url, s.version,
     s.tags, s.is_featured, c.slug AS category_slug, c.name AS category_name,
     (SELECT min(p.price_monthly) FROM plans p
       WHERE p.service_id = s.id AND p.is_active AND p.deleted_at IS NULL) AS starting_price";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CategorySummary {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub icon: Option<String>,
    pub service_count: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoryRef {
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSummary {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub short_description: String,
    pub icon_url: Option<String>,
    pub version: String,
    pub tags: Vec<String>,
    pub is_featured: bool,
    /// The cheapest active plan, if it has any.
    pub starting_price: Option<Rupiah>,
    pub category: CategoryRef,
}

impl FromRow for ServiceSummary {
    fn from_row(row: Row<'_>) -> Result<Self, DbError> {
        Ok(Self {
            id: row.get("id")?,
            slug: row.get("slug")?,
            name: row.get("name")?,
            short_description: row.get("short_description")?,
            icon_url: row.get("icon_url")?,
            version: row.get("version")?,
            tags: row.get("tags")?,
            is_featured: row.get("is_featured")?,
            starting_price: row.get::<Option<i64>>("starting_price")?.map(Rupiah::new),
            category: CategoryRef {
                slug: row.get("category_slug")?,
                name: row.get("category_name")?,
            },
        })
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDetail {
    #[serde(flatten)]
    pub summary: ServiceSummary,
    pub description: String,
    pub documentation_url: Option<String>,
    pub plans: Vec<PlanOffer>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    pub cpu_millicores: i32,
    pub memory_mib: i32,
    pub storage_gib: i32,
}

/// A plan as a buyer sees it, with how many instances can still be had.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanOffer {
    pub id: Uuid,
    pub name: String,
    pub tier: String,
    pub description: String,
    pub price_monthly: Rupiah,
    pub currency: &'static str,
    pub resources: Resources,
    pub max_instances_per_user: i32,
    pub available_quota: i32,
    pub is_popular: bool,
    pub features: Value,
}

impl FromRow for PlanOffer {
    fn from_row(row: Row<'_>) -> Result<Self, DbError> {
        Ok(Self {
            id: row.get("id")?,
            name: row.get("name")?,
            tier: row.get::<PlanTier>("tier")?.as_str().to_owned(),
            description: row.get("description")?,
            price_monthly: row.get("price_monthly")?,
            currency: "IDR",
            resources: Resources {
                cpu_millicores: row.get("cpu_millicores")?,
                memory_mib: row.get("memory_mib")?,
                storage_gib: row.get("storage_gib")?,
            },
            max_instances_per_user: row.get("max_instances_per_user")?,
            available_quota: row.get::<i32>("quota_total")? - row.get::<i32>("quota_used")?,
            is_popular: row.get("is_popular")?,
            features: row.get("features")?,
        })
    }
}

pub async fn categories(conn: &dyn Connection) -> Result<Vec<CategorySummary>, DbError> {
    let sql = format!(
        "SELECT c.id, c.slug, c.name, c.description, c.icon, count(s.id) AS service_count
         FROM categories c
         LEFT JOIN services s ON s.category_id = c.id AND {VISIBLE_SERVICE}
         WHERE c.is_active AND c.deleted_at IS NULL
         GROUP BY c.id
         ORDER BY c.sort_order, c.name"
    );
    let rows = conn.query(&sql, &[]).await?;
    rows.iter()
        .map(|row| {
            Ok(CategorySummary {
                id: row.get("id")?,
                slug: row.get("slug")?,
                name: row.get("name")?,
                description: row.get("description")?,
                icon: row.get("icon")?,
                service_count: row.get("service_count")?,
            })
        })
        .collect()
}

pub struct CategoryFilter {
    pub featured: Option<bool>,
    pub paging: Paging,
}

/// The visible services of a category, featured first.
pub async fn services_in_category(
    conn: &dyn Connection,
    category_slug: &str,
    filter: &CategoryFilter,
) -> Result<Page<ServiceSummary>, CatalogError> {
    let category = conn
        .query(
            "SELECT id FROM categories WHERE slug = $1 AND is_active AND deleted_at IS NULL",
            params![category_slug],
        )
        .await?;
    let category = category
        .first()
        .ok_or_else(|| CatalogError::NoCategory(category_slug.to_owned()))?;
    let category_id: Uuid = category.get("id")?;
    let condition = format!(
        "s.category_id = $1 AND {VISIBLE_SERVICE} AND ($2::boolean IS NULL OR s.is_featured = $2)"
    );
    let total = count_services(conn, &condition, params![category_id, filter.featured]).await?;
    let sql = format!(
        "SELECT {SERVICE_SUMMARY}
         FROM services s JOIN categories c ON c.id = s.category_id
         WHERE {condition}
         ORDER BY s.is_featured DESC, s.sort_order, s.name
         LIMIT $3 OFFSET $4"
    );
    let rows = conn
        .query(
            &sql,
            params![
                category_id,
                filter.featured,
                filter.paging.limit,
                filter.paging.offset()
            ],
        )
        .await?;
    let items = rows
        .iter()
        .map(ServiceSummary::from_row)
        .collect::<Result<_, _>>()?;
    Ok(Page {
        items,
        total,
        paging: filter.paging,
    })
}

async fn count_services(
    conn: &dyn Connection,
    condition: &str,
    params: &[Param],
) -> Result<i64, DbError> {
    let sql = format!(
        "SELECT count(*) AS total FROM services s JOIN categories c ON c.id = s.category_id
         WHERE {condition}"
    );
    conn.scalar(&sql, params).await
}

/// A visible service with its active plans, cheapest first.
pub async fn service_detail(
    conn: &dyn Connection,
    service_slug: &str,
) -> Result<ServiceDetail, CatalogError> {
    let sql = format!(
        "SELECT {SERVICE_SUMMARY}, s.description, s.documentation_url
         FROM services s JOIN categories c ON c.id = s.category_id
         WHERE s.slug = $1 AND {VISIBLE_SERVICE}"
    );
    let rows = conn.query(&sql, params![service_slug]).await?;
    let row = rows
        .first()
        .ok_or_else(|| CatalogError::NoService(service_slug.to_owned()))?;
    let summary = ServiceSummary::from_row(row)?;
    let plans = conn
        .fetch_all(
            "SELECT id, name, tier, description, price_monthly, cpu_millicores, memory_mib,
                    storage_gib, quota_total, quota_used, max_instances_per_user, is_popular,
                    features
             FROM plans
             WHERE service_id = $1 AND is_active AND deleted_at IS NULL
             ORDER BY price_monthly, sort_order, name",
            params![summary.id],
        )
        .await?;
    Ok(ServiceDetail {
        description: row.get("description")?,
        documentation_url: row.get("documentation_url")?,
        plans,
        summary,
    })
}

/// A catalog search. Every given criterion must hold.
pub struct SearchQuery {
    /// Matched, case-insensitively, against name, descriptions and tags.
    pub text: Option<String>,
    pub category: Option<String>,
    /// The service must carry every one of these tags.
    pub tags: Vec<String>,
    /// The service must have an active plan priced within the range.
    pub min_price: Option<Rupiah>,
    pub max_price: Option<Rupiah>,
    pub paging: Paging,
}

pub async fn search(
    conn: &dyn Connection,
    query: &SearchQuery,
) -> Result<Page<ServiceSummary>, DbError> {
    let condition = format!(
        "{VISIBLE_SERVICE}
         AND ($1::text IS NULL OR s.name ILIKE $1 OR s.short_description ILIKE $1
              OR s.description ILIKE $1 OR EXISTS (SELECT 1 FROM unnest(s.tags) t WHERE t ILIKE $1))
         AND ($2::text IS NULL OR c.slug = $2)
         AND (cardinality($3::text[]) = 0 OR s.tags @> $3)
         AND (($4::bigint IS NULL AND $5::bigint IS NULL) OR EXISTS (
              SELECT 1 FROM plans p
              WHERE p.service_id = s.id AND p.is_active AND p.deleted_at IS NULL
                AND ($4::bigint IS NULL OR p.price_monthly >= $4)
                AND ($5::bigint IS NULL OR p.price_monthly <= $5)))"
    );
    let pattern = query.text.as_deref().map(contains_pattern);
    let min = query.min_price.map(Rupiah::amount);
    let max = query.max_price.map(Rupiah::amount);
    let tags = query.tags.clone();
    let total = count_services(
        conn,
        &condition,
        params![
            pattern.clone(),
            query.category.clone(),
            tags.clone(),
            min,
            max
        ],
    )
    .await?;
    let sql = format!(
        "SELECT {SERVICE_SUMMARY}
         FROM services s JOIN categories c ON c.id = s.category_id
         WHERE {condition}
         ORDER BY s.is_featured DESC, s.sort_order, s.name
         LIMIT $6 OFFSET $7"
    );
    let rows = conn
        .query(
            &sql,
            params![
                pattern,
                query.category.clone(),
                tags,
                min,
                max,
                query.paging.limit,
                query.paging.offset()
            ],
        )
        .await?;
    Ok(Page {
        items: rows
            .iter()
            .map(ServiceSummary::from_row)
            .collect::<Result<_, _>>()?,
        total,
        paging: query.paging,
    })
}
