//! HubSpot CRM v3: HTTP client, wire models, their mapping to mirror entities, and the write
//! actions (tasks, notes, deal stages).

pub mod client;
pub mod map;
pub mod wire;
pub mod write;
