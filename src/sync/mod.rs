//! Bringing data into the mirror. For now the bundled demo data set; the HubSpot and Gmail
//! engines arrive here with their connectors and share the same batch writes.

pub mod demo;
pub mod hubspot;
