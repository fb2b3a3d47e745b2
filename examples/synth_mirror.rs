//! Writes a big synthetic mirror to `<dir>/casey.db`, for whole-process benchmarks
//! (`benches/scale.sh`, BENCHMARKS.md "Whole process at a seller's size").
//!
//! ```sh
//! cargo run --release --example synth_mirror -- /tmp/casey-scale/s1 --scale 1
//! casey --data-dir /tmp/casey-scale/s1 --now 2026-11-20T15:00:00Z moves --json --limit 50
//! ```
//!
//! The data is `benches/support/synth.rs` (`Sizes::ISSUE` times `--scale`, seed
//! `0xCA5E_2026` as in `benches/ranking.rs`), written through `Store::open` and
//! `Store::apply_batch` in batches of at most 5,000 records, like a sync would. Vendor JSON is
//! `"{}"`. The data set's clock is fixed at `synth::now()` (2026-11-20T15:00:00Z): run casey
//! with `--now 2026-11-20T15:00:00Z`. No account is needed to read it.
//!
//! Options: `--scale F` (default 1; 0.1 is 10k contacts and 30k messages), `--seed N`,
//! `--now T` (accepted only when it is the generator's clock, which is fixed), `--force`
//! (replace an existing `casey.db`; otherwise an existing one is an error).

#[allow(dead_code)]
#[path = "../benches/support/synth.rs"]
mod synth;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use caseyos::domain::entities::{Draft, Message, MessageRecord, Stage};
use caseyos::store::{MirrorBatch, Store};

/// Seed of the synthetic data set (the one `benches/ranking.rs` uses).
const SEED: u64 = 0xCA5E_2026;
/// Records per `apply_batch` call.
const CHUNK: usize = 5_000;

struct Args {
    dir: PathBuf,
    scale: f64,
    seed: u64,
    force: bool,
}

fn usage() -> &'static str {
    "usage: synth_mirror <dir> [--scale 0.1|1] [--seed N] [--now 2026-11-20T15:00:00Z] [--force]"
}

fn parse_args() -> anyhow::Result<Args> {
    let mut dir = None;
    let mut scale = 1.0;
    let mut seed = SEED;
    let mut force = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--scale" => {
                let v = it.next().context("--scale needs a value")?;
                scale = v.parse().with_context(|| format!("--scale {v}: not a number"))?;
                if !(scale > 0.0 && scale <= 10.0) {
                    bail!("--scale {v}: expected a factor in (0, 10]");
                }
            }
            "--seed" => {
                let v = it.next().context("--seed needs a value")?;
                seed = match v.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
                    None => v.replace('_', "").parse(),
                }
                .with_context(|| format!("--seed {v}: not a number"))?;
            }
            "--now" => {
                let v = it.next().context("--now needs a value")?;
                let t = chrono::DateTime::parse_from_rfc3339(&v)
                    .with_context(|| format!("--now {v}: not an RFC 3339 time"))?;
                if t != synth::now() {
                    bail!(
                        "--now {v}: the generator's clock is fixed at {}; pass that to casey as --now",
                        synth::now().to_rfc3339()
                    );
                }
            }
            "--force" => force = true,
            "-h" | "--help" => {
                eprintln!("{}", usage());
                std::process::exit(0);
            }
            other if other.starts_with('-') => bail!("unknown option {other}\n{}", usage()),
            other => {
                if dir.replace(PathBuf::from(other)).is_some() {
                    bail!("only one directory, please\n{}", usage());
                }
            }
        }
    }
    Ok(Args {
        dir: dir.with_context(usage)?,
        scale,
        seed,
        force,
    })
}

/// Pipelines of the generator's stages, as (id, label, display order).
fn pipelines(stages: &[Stage]) -> Vec<(String, String, i64)> {
    let mut out: Vec<(String, String, i64)> = Vec::new();
    for s in stages {
        if !out.iter().any(|(id, _, _)| *id == s.pipeline_id) {
            let label = match s.pipeline_id.as_str() {
                "default" => "Sales pipeline".to_string(),
                "renewals" => "Renewals".to_string(),
                other => other.to_string(),
            };
            out.push((s.pipeline_id.clone(), label, out.len() as i64));
        }
    }
    out
}

/// Messages as records: each one replies to the one before it in its thread (the generator
/// emits threads whole and in order).
fn records(messages: Vec<Message>) -> Vec<MessageRecord> {
    let mut last_header: HashMap<String, String> = HashMap::new();
    messages
        .into_iter()
        .map(|m| {
            let in_reply_to = match &m.message_id_header {
                Some(h) => last_header.insert(m.thread_id.clone(), h.clone()),
                None => last_header.get(&m.thread_id).cloned(),
            };
            MessageRecord::new(m, in_reply_to)
        })
        .collect()
}

fn drafts(drafts: Vec<Draft>) -> Vec<(Draft, Option<String>)> {
    drafts
        .into_iter()
        .enumerate()
        .map(|(i, d)| (d, Some(format!("18f{i:013x}"))))
        .collect()
}

/// Writes `items` in batches of [`CHUNK`], each built by `fill`.
fn write<T>(
    store: &mut Store,
    what: &str,
    items: Vec<T>,
    mut fill: impl FnMut(&mut MirrorBatch, Vec<T>),
) -> anyhow::Result<usize> {
    let total = items.len();
    let started = Instant::now();
    let mut it = items.into_iter().peekable();
    let mut done = 0;
    while it.peek().is_some() {
        let chunk: Vec<T> = it.by_ref().take(CHUNK).collect();
        done += chunk.len();
        let mut b = MirrorBatch::default();
        fill(&mut b, chunk);
        store
            .apply_batch(&b)
            .with_context(|| format!("writing {what} {done}/{total}"))?;
        eprint!(
            "\r  {what:<10} {done:>7}/{total:<7} {:>6.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    if total > 0 {
        eprintln!();
    }
    Ok(total)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let started = Instant::now();
    let db = args.dir.join("casey.db");
    if db.exists() {
        if !args.force {
            bail!("{} exists; pass --force to replace it", db.display());
        }
        for suffix in ["", "-wal", "-shm"] {
            let p = PathBuf::from(format!("{}{suffix}", db.display()));
            if p.exists() {
                std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
            }
        }
    }
    let sizes = synth::Sizes::ISSUE.scaled(args.scale);
    eprintln!(
        "synth_mirror: scale {} (seed {:#x}, now {}) → {}",
        args.scale,
        args.seed,
        synth::now().to_rfc3339(),
        db.display()
    );
    eprintln!("  {sizes:?}");
    let t = Instant::now();
    let mirror = synth::generate(sizes, args.seed);
    eprintln!("  generated in {:.1} s", t.elapsed().as_secs_f64());
    let threads = mirror
        .messages
        .iter()
        .map(|m| m.thread_id.as_str())
        .collect::<std::collections::HashSet<_>>()
        .len();

    let mut store = Store::open(&db).with_context(|| format!("opening {}", db.display()))?;
    let operator = mirror
        .operator_email
        .clone()
        .unwrap_or_else(|| synth::OPERATOR.to_string());
    store.set_setting("operator_email", &operator)?;
    let t = Instant::now();
    let mut stage_batch = MirrorBatch {
        pipelines: pipelines(&mirror.stages),
        ..MirrorBatch::default()
    };
    let stages = mirror.stages.len();
    stage_batch.stages = mirror.stages;
    store
        .apply_batch(&stage_batch)
        .context("writing pipelines and stages")?;
    let raw = || "{}".to_string();
    let companies = write(&mut store, "companies", mirror.companies, |b, c| {
        b.companies = c.into_iter().map(|x| (x, raw())).collect();
    })?;
    let contacts = write(&mut store, "contacts", mirror.contacts, |b, c| {
        b.contacts = c.into_iter().map(|x| (x, raw())).collect();
    })?;
    let deals = write(&mut store, "deals", mirror.deals, |b, c| {
        b.deals = c.into_iter().map(|x| (x, raw())).collect();
    })?;
    let tasks = write(&mut store, "tasks", mirror.tasks, |b, c| {
        b.tasks = c.into_iter().map(|x| (x, raw())).collect();
    })?;
    let notes = write(&mut store, "notes", mirror.notes, |b, c| {
        b.notes = c.into_iter().map(|x| (x, raw())).collect();
    })?;
    let messages = write(&mut store, "messages", records(mirror.messages), |b, c| {
        b.messages = c;
    })?;
    let drafts = write(&mut store, "drafts", drafts(mirror.drafts), |b, c| {
        b.drafts = c;
    })?;
    let counts = store.counts()?;
    drop(store); // closing the last connection checkpoints the WAL into the file
    let write_secs = t.elapsed().as_secs_f64();

    let mut bytes = 0u64;
    for suffix in ["", "-wal", "-shm"] {
        if let Ok(m) = std::fs::metadata(format!("{}{suffix}", db.display())) {
            bytes += m.len();
        }
    }
    eprintln!(
        "synth_mirror: wrote {companies} companies, {contacts} contacts, {deals} deals, {stages} stages, \
         {tasks} tasks, {notes} notes, {messages} messages in {threads} threads, {drafts} drafts"
    );
    eprintln!("  store counts: {counts:?}");
    eprintln!(
        "  {}: {:.1} MB · writing {:.1} s · total {:.1} s",
        db.display(),
        bytes as f64 / 1e6,
        write_secs,
        started.elapsed().as_secs_f64()
    );
    eprintln!(
        "  try: casey --data-dir {} --now {} moves --limit 10",
        args.dir.display(),
        synth::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    Ok(())
}
