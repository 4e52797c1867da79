//! What administrators may write to each kind of catalog object: every field's JSON name, its
//! column, how it is read, and whether a create needs it.

use serde_json::Value;
use uuid::Uuid;

use super::Kind;
use crate::catalog::{DeploymentTemplate, PlanTier};
use crate::exact::unpadded;
use crate::http::{ApiError, Fields, Input};
use crate::money::Rupiah;
use crate::ports::db::Param;

/// Column values to write, in the order of the statement's parameters `$3...`.
pub struct Write {
    pub columns: Vec<(&'static str, Param)>,
}

impl Write {
    /// Reads a create (`creating`: the required fields must be there) or an update (only what
    /// it names changes, and never the parent or the quota total, which has its own route).
    pub fn parse(mut fields: Fields, kind: Kind, creating: bool) -> Result<Self, ApiError> {
        let specs = match kind {
            Kind::Category => CATEGORY,
            Kind::Service => SERVICE,
            Kind::Plan => PLAN,
        };
        let mut columns = Vec::new();
        for Spec(json_name, column, parse, required) in specs {
            let fixed =
                !creating && matches!(*column, "category_id" | "service_id" | "quota_total");
            if fixed {
                continue;
            }
            let value = if creating && *required {
                fields.required(json_name, *parse)
            } else {
                fields.optional(json_name, *parse)
            };
            if let Some(value) = value {
                columns.push((*column, value));
            }
        }
        fields.finish(|| Some(Write { columns }))
    }

    pub(super) fn deactivates(&self) -> bool {
        self.columns
            .iter()
            .any(|(c, v)| *c == "is_active" && *v == Param::Bool(false))
    }
}

type Parse = fn(Input<'_>) -> Result<Param, String>;

struct Spec(&'static str, &'static str, Parse, bool);

const CATEGORY: &[Spec] = &[
    Spec("slug", "slug", slug, true),
    Spec("name", "name", name, true),
    Spec("description", "description", long_text, false),
    Spec("icon", "icon", short_text, false),
    Spec("sortOrder", "sort_order", count, false),
    Spec("isActive", "is_active", flag, false),
];

const SERVICE: &[Spec] = &[
    Spec("categoryId", "category_id", id, true),
    Spec("slug", "slug", slug, true),
    Spec("name", "name", name, true),
    Spec("version", "version", name, true),
    Spec("template", "template", template, true),
    Spec("shortDescription", "short_description", short_text, false),
    Spec("description", "description", long_text, false),
    Spec("tags", "tags", tags, false),
    Spec("iconUrl", "icon_url", short_text, false),
    Spec("documentationUrl", "documentation_url", short_text, false),
    Spec("isPublic", "is_public", flag, false),
    Spec("isFeatured", "is_featured", flag, false),
    Spec("isActive", "is_active", flag, false),
    Spec("sortOrder", "sort_order", count, false),
];

const PLAN: &[Spec] = &[
    Spec("serviceId", "service_id", id, true),
    Spec("name", "name", name, true),
    Spec("tier", "tier", tier, true),
    Spec("priceMonthly", "price_monthly", price, true),
    Spec("cpuMillicores", "cpu_millicores", positive, true),
    Spec("memoryMib", "memory_mib", positive, true),
    Spec("storageGib", "storage_gib", positive, true),
    Spec("quotaTotal", "quota_total", count, true),
    Spec(
        "maxInstancesPerUser",
        "max_instances_per_user",
        positive,
        true,
    ),
    Spec("description", "description", long_text, false),
    Spec("features", "features", features, false),
    Spec("isPopular", "is_popular", flag, false),
    Spec("isActive", "is_active", flag, false),
    Spec("sortOrder", "sort_order", count, false),
];

fn text(v: Input<'_>, max: usize) -> Result<Param, String> {
    let text = v.text()?;
    if text.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    Ok(Param::from(text))
}

fn short_text(v: Input<'_>) -> Result<Param, String> {
    text(v, 200)
}

fn long_text(v: Input<'_>) -> Result<Param, String> {
    text(v, 5_000)
}

fn name(v: Input<'_>) -> Result<Param, String> {
    match unpadded(v.text()?)? {
        "" => Err("must not be empty".into()),
        _ => short_text(v),
    }
}

/// Lower-case letters and digits in dash-separated words, at most 60 characters.
fn slug(v: Input<'_>) -> Result<Param, String> {
    let slug = v.text()?;
    let valid = (1..=60).contains(&slug.len())
        && slug.split('-').all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if valid {
        Ok(Param::from(slug))
    } else {
        Err("must be lower-case words of letters and digits joined by dashes".into())
    }
}

fn flag(v: Input<'_>) -> Result<Param, String> {
    v.boolean().map(Param::from)
}

fn id(v: Input<'_>) -> Result<Param, String> {
    Uuid::parse_str(v.text()?)
        .map(Param::from)
        .map_err(|_| "must be an id".into())
}

fn count(v: Input<'_>) -> Result<Param, String> {
    match v.integer()? {
        n @ 0..=1_000_000 => Ok(Param::Int32(n as i32)),
        _ => Err("must be between 0 and 1000000".into()),
    }
}

fn positive(v: Input<'_>) -> Result<Param, String> {
    match v.integer()? {
        n @ 1..=1_000_000 => Ok(Param::Int32(n as i32)),
        _ => Err("must be between 1 and 1000000".into()),
    }
}

fn price(v: Input<'_>) -> Result<Param, String> {
    match v.integer()? {
        amount @ 0..=1_000_000_000 => Ok(Param::Int64(Rupiah::new(amount).amount())),
        _ => Err("must be between 0 and 1000000000 rupiah".into()),
    }
}

fn tier(v: Input<'_>) -> Result<Param, String> {
    v.text()?
        .parse::<PlanTier>()
        .map(|t| Param::from(t.as_str()))
}

fn tags(v: Input<'_>) -> Result<Param, String> {
    let tags = v.json().as_array().ok_or("must be a list of tags")?;
    tags.iter()
        .map(|t| {
            t.as_str()
                .filter(|t| (1..=40).contains(&t.chars().count()) && unpadded(t).is_ok())
                .map(str::to_lowercase)
                .ok_or_else(|| "each tag must be 1 to 40 characters, unpadded".to_owned())
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Param::from)
}

fn features(v: Input<'_>) -> Result<Param, String> {
    match v.json() {
        Value::Array(items) if items.iter().all(|i| i.is_string()) => Ok(Param::from(v.json())),
        _ => Err("must be a list of strings".into()),
    }
}

/// A deployment template that will deploy: it parses, and every field makes sense.
fn template(v: Input<'_>) -> Result<Param, String> {
    let template: DeploymentTemplate = serde_json::from_value(v.json().clone())
        .map_err(|e| format!("is not a deployment template: {e}"))?;
    let problems: Vec<String> = template
        .problems()
        .into_iter()
        .map(|(field, message)| format!("template.{field}: {message}"))
        .collect();
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    Ok(Param::from(v.json()))
}
