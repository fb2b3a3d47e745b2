//! Gmail API v1: wire models and message-body decoding.

pub mod body;
pub mod map;
pub mod wire;
