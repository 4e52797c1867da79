//! Accounts and sessions: who someone is (email, password, role) and how they prove it
//! (short-lived access tokens, rotating refresh tokens).

mod access_token;
mod email;
mod error;
mod hs256;
mod job;
mod principal;
mod profile;
mod refresh_token;
mod role;
mod session;
mod settings;
mod throttle;
pub mod users;

pub use crate::password::{Password, PasswordHash, ARGON2_LANES, ARGON2_MEMORY_KIB, ARGON2_PASSES};
pub use access_token::{AccessToken, TokenError};
pub use email::Email;
pub use error::AuthError;
pub use job::authenticate_job;
pub use principal::{authenticate, authenticate_admin, Principal};
pub use profile::{PersonName, Phone};
pub use refresh_token::RefreshToken;
pub use role::Role;
pub use session::{log_in, log_out, refresh, register, Registration, Session};
pub use settings::AuthSettings;
pub use throttle::SourceAddress;
