//! Wire models and (later) HTTP clients for the services CaseyOS mirrors.
//!
//! Each service has its own folder. The serde models here speak the vendors' real JSON shapes
//! (HubSpot CRM v3, Gmail v1) so that the bundled demo data, the test fakes and the live APIs
//! all pass through the same parsing code.

pub mod gmail;
pub mod http;
pub mod hubspot;
pub mod politeness;
