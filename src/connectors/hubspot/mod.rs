//! HubSpot CRM v3: HTTP client, wire models and their mapping to mirror entities.

pub mod client;
pub mod map;
pub mod wire;

/// The private-app token from `CASEYOS_HUBSPOT_TOKEN`, if set (the keyring comes later).
pub fn token_from_env() -> Option<secrecy::SecretString> {
    std::env::var("CASEYOS_HUBSPOT_TOKEN")
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .map(secrecy::SecretString::from)
}
