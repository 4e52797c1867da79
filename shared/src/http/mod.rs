//! Spincat's HTTP model, independent of Spin: requests, replies in the standard envelope, errors
//! with stable codes, input parsing and the request pipeline every component shares.

mod cors;
mod domain_errors;
mod error;
mod fields;
mod message;
mod paging;
mod pipeline;
mod routes;

pub use error::{ApiError, FieldError};
pub use fields::{Fields, Input};
pub use message::{Request, Response};
pub use paging::{Page, Paging};
pub use pipeline::{error_response, serve, Ctx, Document, Reply, RouteFuture, MAX_BODY_BYTES};
pub use routes::{allowed_methods, Routes};
