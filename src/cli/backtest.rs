//! `casey backtest`: replays recorded recommendations to compare weights.

use std::path::Path;

use anyhow::Context as _;

use super::Context;
use super::commands::open_store;
use super::output;
use crate::domain::aps::ApsWeights;
use crate::domain::backtest::backtest;

/// How many moves per day count as "on top".
const TOP_K: usize = 10;

/// Merges `over` into `base`, table by table.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// The `[aps]` table of `path` laid over the current weights, validated.
fn weights_file(path: &Path, current: &ApsWeights) -> anyhow::Result<ApsWeights> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut doc: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    let Some(toml::Value::Table(aps)) = doc.remove("aps") else {
        anyhow::bail!("{} has no [aps] table to compare with", path.display());
    };
    let mut base = toml::Table::try_from(current).context("reading the current weights")?;
    merge(&mut base, aps);
    let w: ApsWeights = base
        .try_into()
        .with_context(|| format!("{}: the [aps] table is invalid", path.display()))?;
    w.validate()
        .map_err(|(k, m)| anyhow::anyhow!("{}: aps.{k} {m}", path.display()))?;
    Ok(w)
}

/// `casey backtest [--weights FILE] [--json]`.
pub fn run(ctx: &Context, weights: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let other = weights.map(|p| weights_file(p, &ctx.config.aps)).transpose()?;
    let store = open_store(ctx, ctx.demo, false)?;
    let history = store.backtest_history()?;
    let report = backtest(&history, &ctx.config.aps, other.as_ref(), TOP_K);
    let out = if json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        report.text()
    };
    output::print(&out)
}
