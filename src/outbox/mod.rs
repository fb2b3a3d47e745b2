//! Outbound actions: written to the durable outbox first, executed by a worker, never twice.
//!
//! - [`safety`]: the send rules (draft-only, daily cap, cooldown, suppression, stale draft).
//! - [`remote`]: the actions on the real services (HubSpot so far).
//! - [`worker`]: claims due jobs, reconciles after a crash or an unclear answer, parks jobs
//!   whose world changed, retries what could not reach the service.
//!
//! The queue itself lives in the mirror (`Store::queue_job`, `claim_job`, `finish_job`, …) so a
//! crash at any point leaves a state the next worker can finish from.

pub mod remote;
pub mod safety;
pub mod worker;
