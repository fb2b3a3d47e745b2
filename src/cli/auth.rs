//! `casey auth google|hubspot|status|logout`.

use super::{AuthAction, Context};

/// Runs one `casey auth` action.
pub fn run(_ctx: &Context, _action: AuthAction) -> anyhow::Result<()> {
    Ok(())
}
