use serde::Serialize;
use serde_json::{json, Value};

use super::Fields;

pub const MAX_LIMIT: i64 = 100;
const DEFAULT_LIMIT: i64 = 20;

/// `page` (from 1) and `limit` (1 to 100) of a list request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub page: i64,
    pub limit: i64,
}

impl Paging {
    pub fn from_query(fields: &mut Fields) -> Self {
        let page = fields
            .optional("page", |v| {
                v.integer().and_then(|p| {
                    if p >= 1 {
                        Ok(p)
                    } else {
                        Err("must be at least 1".into())
                    }
                })
            })
            .unwrap_or(1);
        let limit = fields
            .optional("limit", |v| {
                v.integer().and_then(|l| {
                    if (1..=MAX_LIMIT).contains(&l) {
                        Ok(l)
                    } else {
                        Err(format!("must be between 1 and {MAX_LIMIT}"))
                    }
                })
            })
            .unwrap_or(DEFAULT_LIMIT);
        Self { page, limit }
    }

    pub fn offset(&self) -> i64 {
        (self.page - 1).saturating_mul(self.limit)
    }
}

/// One page of a list: `{items, pagination: {total, page, limit}}`.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub paging: Paging,
}

impl<T> Page<T> {
    /// One page of a list that is read whole because it is short (categories, a kind of
    /// catalog object, a cluster's objects), so every list answers the same shape.
    pub fn of_all(all: Vec<T>, paging: Paging) -> Self {
        let total = all.len() as i64;
        let items = all
            .into_iter()
            .skip(usize::try_from(paging.offset()).unwrap_or(usize::MAX))
            .take(paging.limit as usize)
            .collect();
        Self {
            items,
            total,
            paging,
        }
    }
}

impl<T: Serialize> Page<T> {
    pub fn to_json(&self) -> Value {
        json!({
            "items": self.items,
            "pagination": {
                "total": self.total,
                "page": self.paging.page,
                "limit": self.paging.limit,
                "totalPages": (self.total + self.paging.limit - 1) / self.paging.limit,
            }
        })
    }
}
