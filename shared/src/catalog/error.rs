use crate::ports::db::DbError;

/// Why a catalog read found nothing to show.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("No category {0:?}")]
    NoCategory(String),
    #[error("No service {0:?}")]
    NoService(String),
    #[error(transparent)]
    Db(#[from] DbError),
}
