#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Ranking and rendering benchmarks at the issue's scale (see BENCHMARKS.md).
//!
//! * `detect/detect_and_rank` — `detect_moves` (index, detection, scoring, ranking) over a
//!   synthetic mirror of 100k contacts, 10k deals and 300k messages.
//! * `rerank_100k/score_and_rank` — recompute the APS of exactly 100,000 already-detected
//!   candidates from their features and sort them (target < 100 ms), plus its two halves.
//! * `render_frame/*` — one `terminal.draw` of the whole screen (160×48 `TestBackend`) with an
//!   App holding those 100,000 moves (target < 2 ms).
//! * `demo_moves_json/warm` — `casey --demo --data-dir <tmp> moves --json`, spawn to exit.
//!
//! Run with `cargo bench --bench ranking`; add a filter (`-- rerank`) to run one group.

#[path = "support/synth.rs"]
mod synth;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use caseyos::config::{Config, SafetyMode};
use caseyos::domain::entities::MirrorIndex;
use caseyos::domain::moves::{self, MoveContext, MoveKind};
use caseyos::domain::{Mirror, Move, aps, detect_moves};
use caseyos::store::Counts;
use caseyos::tui::app::{Action, App, Snapshot, Source};
use caseyos::tui::keymap::Keymap;
use caseyos::tui::theme::Theme;
use caseyos::tui::view;
use criterion::{BatchSize, Criterion, SamplingMode, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// Seed of the synthetic data set; change it and every figure changes.
const SEED: u64 = 0xCA5E_2026;
/// Size of the re-rank and render benchmarks.
const RERANK_N: usize = 100_000;
/// Terminal size for the frame benchmark.
const COLS: u16 = 160;
const ROWS: u16 = 48;

struct Fixture {
    mirror: Mirror,
    config: Config,
    /// Exactly `RERANK_N` candidates (detected ones, replicated with distinct keys), shuffled.
    candidates: Vec<Move>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build_fixture)
}

fn build_fixture() -> Fixture {
    let t = Instant::now();
    let mirror = synth::generate(synth::Sizes::ISSUE, SEED);
    let threads: std::collections::HashSet<&str> =
        mirror.messages.iter().map(|m| m.thread_id.as_str()).collect();
    eprintln!(
        "synthetic mirror (seed {SEED:#x}, now {}): {} contacts, {} companies, {} deals, {} stages, \
         {} messages in {} threads, {} drafts, {} tasks, {} notes — generated in {:.2?}",
        synth::now().to_rfc3339(),
        mirror.contacts.len(),
        mirror.companies.len(),
        mirror.deals.len(),
        mirror.stages.len(),
        mirror.messages.len(),
        threads.len(),
        mirror.drafts.len(),
        mirror.tasks.len(),
        mirror.notes.len(),
        t.elapsed()
    );
    drop(threads);
    let config = Config::default();
    let t = Instant::now();
    let detected = detect_moves(&mirror, synth::now(), &config.moves, &config.aps);
    let once = t.elapsed();
    let mut by_kind: BTreeMap<MoveKind, usize> = BTreeMap::new();
    for m in &detected {
        *by_kind.entry(m.kind).or_default() += 1;
    }
    let kinds: Vec<String> = MoveKind::ALL
        .iter()
        .map(|k| format!("{} {}", k.as_str(), by_kind.get(k).copied().unwrap_or(0)))
        .collect();
    eprintln!(
        "detection: {} candidate moves ({}); one cold run {:.2?}",
        detected.len(),
        kinds.join(", "),
        once
    );
    let missing: Vec<&str> = MoveKind::ALL
        .iter()
        .filter(|k| !by_kind.contains_key(k))
        .map(|k| k.as_str())
        .collect();
    assert!(missing.is_empty(), "move types never detected: {missing:?}");

    let mut candidates: Vec<Move> = Vec::with_capacity(RERANK_N);
    let mut copy = 0;
    while candidates.len() < RERANK_N && !detected.is_empty() {
        for m in detected.iter().take(RERANK_N - candidates.len()) {
            let mut m = m.clone();
            if copy > 0 {
                m.key = format!("{}#copy{copy}", m.key);
            }
            candidates.push(m);
        }
        copy += 1;
    }
    // Shuffled, so the sort in the re-rank works on a realistic (not already sorted) order.
    synth::Rng::new(SEED ^ 0x5EED).shuffle(&mut candidates);
    eprintln!(
        "re-rank set: {} candidates ({} detected, replicated ×{copy} with distinct keys), shuffled; \
         size_of::<Move>() = {} bytes",
        candidates.len(),
        detected.len(),
        std::mem::size_of::<Move>()
    );
    Fixture {
        mirror,
        config,
        candidates,
    }
}

/// Recomputes every score from the move's features, then ranks: a full re-rank.
fn rerank(moves: &mut [Move], w: &aps::ApsWeights) {
    for m in moves.iter_mut() {
        m.aps = aps::score(&m.features, w);
    }
    moves::rank(moves);
}

fn bench_detect(c: &mut Criterion) {
    let f = fixture();
    let now = synth::now();
    let mut g = c.benchmark_group("detect");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10));
    g.bench_function("detect_and_rank", |b| {
        b.iter(|| detect_moves(black_box(&f.mirror), now, &f.config.moves, &f.config.aps))
    });
    // Sub-step: the lookup tables alone (a share of the above).
    g.bench_function("index_only", |b| {
        b.iter(|| MirrorIndex::new(black_box(&f.mirror)).threads.len())
    });
    g.finish();
}

fn bench_rerank(c: &mut Criterion) {
    let f = fixture();
    let w = &f.config.aps;
    let mut g = c.benchmark_group("rerank_100k");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    g.bench_function("score_and_rank", |b| {
        b.iter_batched(
            || f.candidates.clone(),
            |mut v| {
                rerank(&mut v, w);
                v
            },
            BatchSize::LargeInput,
        )
    });
    // The two halves of the re-rank, to see where the time goes.
    g.bench_function("score_only", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for m in &f.candidates {
                sum += aps::score(black_box(&m.features), w).score;
            }
            sum
        })
    });
    g.bench_function("sort_only", |b| {
        b.iter_batched(
            || f.candidates.clone(),
            |mut v| {
                moves::rank(&mut v);
                v
            },
            BatchSize::LargeInput,
        )
    });
    // What-if: the same order computed over references instead of moving the moves themselves.
    g.bench_function("sort_refs_only", |b| {
        b.iter_batched(
            || f.candidates.iter().collect::<Vec<&Move>>(),
            |mut v| {
                v.sort_by(|a, b| {
                    b.aps
                        .score
                        .total_cmp(&a.aps.score)
                        .then_with(|| a.key.cmp(&b.key))
                });
                v
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// The detail-pane context of a move, gathered from the synthetic mirror (what the store's
/// `move_context` would return).
fn context_for(m: &Mirror, mv: &Move) -> MoveContext {
    let s = &mv.subject;
    let contact = s
        .contact_id
        .as_deref()
        .and_then(|id| m.contacts.iter().find(|c| c.id == id))
        .cloned();
    let company = s
        .company_id
        .as_deref()
        .and_then(|id| m.companies.iter().find(|c| c.id == id))
        .cloned();
    let deal = s
        .deal_id
        .as_deref()
        .and_then(|id| m.deals.iter().find(|d| d.id == id))
        .cloned();
    let stage = deal
        .as_ref()
        .and_then(|d| d.stage_id.as_deref())
        .and_then(|id| m.stages.iter().find(|st| st.id == id))
        .cloned();
    let mut thread: Vec<_> = s
        .thread_id
        .as_deref()
        .map(|t| m.messages.iter().filter(|x| x.thread_id == t).cloned().collect())
        .unwrap_or_default();
    thread.sort_by_key(|x| x.at);
    let thread_len = thread.len();
    let thread = thread.split_off(thread_len.saturating_sub(3));
    MoveContext {
        contact,
        company,
        deal,
        stage,
        thread,
        thread_len,
        draft: s
            .draft_id
            .as_deref()
            .and_then(|id| m.drafts.iter().find(|d| d.id == id))
            .cloned(),
        task: s
            .task_id
            .as_deref()
            .and_then(|id| m.tasks.iter().find(|t| t.id == id))
            .cloned(),
    }
}

fn app_with_moves(f: &Fixture, n: usize, select: usize) -> App {
    let mut ranked: Vec<Move> = f.candidates.iter().take(n).cloned().collect();
    moves::rank(&mut ranked);
    let selected = ranked.get(select).cloned();
    let mut contexts = std::collections::HashMap::new();
    if let Some(mv) = &selected {
        contexts.insert(mv.key.clone(), context_for(&f.mirror, mv));
    }
    let threads: std::collections::HashSet<&str> =
        f.mirror.messages.iter().map(|m| m.thread_id.as_str()).collect();
    let counts = Counts {
        contacts: f.mirror.contacts.len(),
        companies: f.mirror.companies.len(),
        deals: f.mirror.deals.len(),
        threads: threads.len(),
        messages: f.mirror.messages.len(),
        drafts: f.mirror.drafts.len(),
        tasks: f.mirror.tasks.len(),
        outbox_pending: 0,
    };
    let snapshot = Snapshot {
        moves: ranked,
        contexts,
        counts,
        outbox: Vec::new(),
        stats: Default::default(),
        ranked: None,
        counts_read: true,
        stats_read: true,
    };
    let mut app = App::new(
        synth::now(),
        Source::Live,
        SafetyMode::DraftOnly,
        Keymap::defaults(),
        f.config.aps.clone(),
        snapshot,
    );
    app.update(Action::Resize(COLS, ROWS));
    let page = app.list_rows();
    app.selected = select;
    app.offset = select.saturating_sub(page / 2);
    app.update(Action::Resize(COLS, ROWS));
    assert_eq!(app.selected, select, "selection clamped unexpectedly");
    app
}

fn bench_render(c: &mut Criterion) {
    let f = fixture();
    let theme = Theme::named("dark", false);
    let mut g = c.benchmark_group("render_frame");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    // The last one is a baseline: the same screen over 1,000 moves.
    for (name, n, select) in [
        ("top_of_list", RERANK_N, 0),
        ("scrolled_to_50000", RERANK_N, 50_000),
        ("top_of_list_1k_moves", 1_000, 0),
    ] {
        let app = app_with_moves(f, n, select);
        let mut terminal = Terminal::new(TestBackend::new(COLS, ROWS)).unwrap();
        terminal.draw(|fr| view::draw(fr, &app, &theme)).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| {
                terminal
                    .draw(|fr| view::draw(fr, black_box(&app), &theme))
                    .map(|_| ())
                    .unwrap()
            })
        });
    }
    // Sub-steps: full passes over the moves that `draw` makes per frame — the row index (the
    // list and the detail pane's `selected_move` each build it) and the header's counts.
    let app = app_with_moves(f, RERANK_N, 0);
    g.bench_function("app_rows_only", |b| b.iter(|| black_box(&app).rows().len()));
    g.bench_function("actionable_count_only", |b| {
        b.iter(|| black_box(&app).actionable_count())
    });
    g.finish();
}

/// The `casey` binary cargo built for this bench run (Cargo sets `CARGO_BIN_EXE_<name>` for
/// benches as for integration tests, and builds the binary first with the bench profile).
fn casey_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_casey"))
}

fn run_demo_moves(bin: &Path, data_dir: &Path) -> usize {
    let out = Command::new(bin)
        .args(["--demo", "--data-dir"])
        .arg(data_dir)
        .args(["moves", "--json"])
        .env_remove("CASEYOS_CONFIG")
        .env_remove("CASEYOS_DATA_DIR")
        .env_remove("CASEYOS_NOW")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("spawn casey");
    assert!(out.status.success(), "casey exited with {}", out.status);
    out.stdout.len()
}

fn bench_demo(c: &mut Criterion) {
    let bin = casey_bin();
    assert!(bin.exists(), "no casey binary at {}", bin.display());
    // A first run in an empty data dir creates the demo database: time a few of those (not a
    // criterion measurement, just the median of five), then measure warm runs in one dir.
    let mut cold: Vec<Duration> = (0..5)
        .map(|_| {
            let fresh = tempfile::tempdir().unwrap();
            let t = Instant::now();
            run_demo_moves(&bin, fresh.path());
            t.elapsed()
        })
        .collect();
    cold.sort();
    let dir = tempfile::tempdir().unwrap();
    let bytes = run_demo_moves(&bin, dir.path());
    eprintln!(
        "demo_moves_json: cold first run (creates the demo DB) median {:.2?} of 5 (min {:.2?}, max {:.2?}); \
         {bytes} bytes of JSON; binary {}",
        cold[2],
        cold[0],
        cold[4],
        bin.display()
    );
    let mut g = c.benchmark_group("demo_moves_json");
    g.sample_size(20)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.bench_function("warm", |b| b.iter(|| run_demo_moves(&bin, dir.path())));
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_detect, bench_rerank, bench_render, bench_demo
}
criterion_main!(benches);
