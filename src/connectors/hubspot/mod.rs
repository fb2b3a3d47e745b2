//! HubSpot CRM v3: wire models (the HTTP client arrives with the sync engine).

pub mod map;
pub mod wire;
