//! Gmail API v1: HTTP client, wire models, message-body decoding and mapping to entities.

pub mod body;
pub mod client;
pub mod compose;
pub mod map;
pub mod mime;
pub mod wire;
