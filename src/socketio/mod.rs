//! Socket.IO v5 over Engine.IO v4 (stub while building).
#![allow(dead_code)]
mod base64;
pub(crate) mod engine;
mod reason;
mod sid;

pub use reason::DisconnectReason;
