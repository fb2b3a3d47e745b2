//! HubSpot CRM v3: HTTP client, wire models and their mapping to mirror entities.

pub mod client;
pub mod map;
pub mod wire;
