//! Today's Moves as data: the stored ranking (`ranked_moves`), what changed since it was
//! settled (`move_dirty`, filled by triggers in the same transaction as each change), and the
//! slices of the mirror that re-detecting a few units reads (indexed queries only).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params, params_from_iter};
use serde::{Deserialize, Serialize};

use super::mirror::{company_row, contact_row, deal_row, draft_row, message_row, stage_row, task_row};
use super::{Result, Store, parse_ts, parse_ts_opt, ts};
use crate::domain::aps::{self, ApsWeights, Features};
use crate::domain::detect::{Decision, effective_state, retime_features, unit_of_key};
use crate::domain::entities::{
    Contact, Deal, Draft, EmailStats, Mirror, MirrorContext, Task, pipeline_scale,
};
use crate::domain::moves::{Move, MoveKind, MoveState, MoveSubject, PrimaryAction, rank_score};

/// SQLite's parameter limit is far above this; chunks keep statements small.
const CHUNK: usize = 400;

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

/// A move as stored: everything but its score breakdown (recomputed from the features, which is
/// exact and cheap) and its state (a column of its own).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct StoredMove {
    title: String,
    who: String,
    why: String,
    subject: MoveSubject,
    action: PrimaryAction,
    signal_at: DateTime<Utc>,
    last_inbound_at: Option<DateTime<Utc>>,
    features: Features,
    /// The deal's close date (for `closing_soon`), to re-time the features.
    #[serde(default)]
    close_at: Option<DateTime<Utc>>,
    /// The person's last form submission, to re-time the features.
    #[serde(default)]
    form_at: Option<DateTime<Utc>>,
}

/// Every open deal's amount and stage (the revenue scale), from the `deals_scale` index.
const PIPELINE_SQL: &str =
    "SELECT d.amount, s.probability, s.is_closed FROM deals d LEFT JOIN stages s ON s.id = d.stage_id";

/// One address's latest mail from us and to us, non-automated (two `message_addresses_dir`
/// seeks).
const MAIL_FIGURES_SQL: &str = "SELECT (SELECT max(at) FROM message_addresses WHERE email = ?1 AND dir = 1),
        (SELECT max(at) FROM message_addresses WHERE email = ?1 AND dir = 2)";

/// The columns of one `ranked_moves` row but its key, as written.
#[derive(Debug, PartialEq)]
struct RankedRow {
    unit: String,
    kind: String,
    score: f64,
    state: String,
    actionable: bool,
    in_drafts: bool,
    contact_id: Option<String>,
    company_id: Option<String>,
    deal_id: Option<String>,
    thread_id: Option<String>,
    draft_id: Option<String>,
    task_id: Option<String>,
    email: Option<String>,
    signal_at: String,
    data: String,
}

impl RankedRow {
    /// Columns 1.. of `SELECT key, unit, kind, …, data`.
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<RankedRow> {
        Ok(RankedRow {
            unit: r.get(1)?,
            kind: r.get(2)?,
            score: r.get(3)?,
            state: r.get(4)?,
            actionable: r.get(5)?,
            in_drafts: r.get(6)?,
            contact_id: r.get(7)?,
            company_id: r.get(8)?,
            deal_id: r.get(9)?,
            thread_id: r.get(10)?,
            draft_id: r.get(11)?,
            task_id: r.get(12)?,
            email: r.get(13)?,
            signal_at: r.get(14)?,
            data: r.get(15)?,
        })
    }

    /// Whether `other` is the same move about the same records (only the columns an update
    /// in place writes differ).
    fn same_subject(&self, other: &RankedRow) -> bool {
        (
            &self.unit,
            &self.kind,
            &self.contact_id,
            &self.company_id,
            &self.deal_id,
        ) == (
            &other.unit,
            &other.kind,
            &other.contact_id,
            &other.company_id,
            &other.deal_id,
        ) && (&self.thread_id, &self.draft_id, &self.task_id, &self.email)
            == (&other.thread_id, &other.draft_id, &other.task_id, &other.email)
    }
}

/// Which rows of the stored ranking to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RankedFilter {
    /// Every move, whatever its state.
    All,
    /// Moves on Today's Moves (open or accepted).
    Actionable,
    /// Actionable moves that carry a draft or are one (the Drafts view).
    Drafts,
}

/// Counts over the stored ranking, for headers and summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RankedCounts {
    /// Every stored move.
    pub total: usize,
    /// Open or accepted.
    pub actionable: usize,
    /// Open.
    pub open: usize,
    /// Accepted.
    pub accepted: usize,
    /// Actionable moves in the Drafts view.
    pub drafts: usize,
}

/// What one settle pass has to do, read from `move_dirty`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirtySet {
    /// Everything must be detected again.
    pub all: bool,
    /// Detection units to re-detect.
    pub units: BTreeSet<String>,
    /// Move keys whose decision changed (state only).
    pub states: BTreeSet<String>,
    /// The raw rows read, deleted once the pass lands.
    pub rows: Vec<(String, String)>,
}

impl DirtySet {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        !self.all && self.units.is_empty() && self.states.is_empty()
    }
}

/// One group of [`Store::ranked_groups`].
struct Group {
    actionable: bool,
    in_drafts: bool,
    kind: Option<MoveKind>,
    state: Option<MoveState>,
    n: usize,
}

/// Counts over the actionable moves of the stored ranking (`casey whats-up`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RankedSummary {
    /// Open or accepted moves.
    pub actionable: usize,
    /// Accepted ones.
    pub accepted: usize,
    /// Actionable moves carrying a draft.
    pub with_draft: usize,
    /// Actionable moves per kind.
    pub by_kind: BTreeMap<MoveKind, usize>,
    /// When the longest-waiting reply arrived.
    pub oldest_reply: Option<DateTime<Utc>>,
}

/// What stored features are brought to when read: the ranking's clock and revenue scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Basis {
    /// The clock the ranking is settled at.
    pub at: DateTime<Utc>,
    /// Revenue scale (largest expected value among open deals).
    pub pipeline_max_value: f64,
    /// Median open deal amount.
    pub typical_deal_amount: f64,
}

impl Basis {
    /// The settings text of the scale.
    pub fn scale_text(max: f64, typical: f64) -> String {
        format!("{max:?} {typical:?}")
    }

    /// Brings features detected at another clock or scale to this basis.
    pub fn apply(&self, s: &mut StoredFeatures<'_>) {
        retime_features(s.features, s.signal_at, s.close_at, s.form_at, self.at);
        let f = &mut *s.features;
        f.pipeline_max_value = self.pipeline_max_value;
        f.typical_deal_amount = self.typical_deal_amount;
        if let Some(d) = f.deal.as_mut().filter(|d| d.amount_assumed) {
            d.amount = self.typical_deal_amount;
        }
    }
}

/// The parts of a stored move a [`Basis`] re-times.
pub struct StoredFeatures<'a> {
    features: &'a mut Features,
    signal_at: DateTime<Utc>,
    close_at: Option<DateTime<Utc>>,
    form_at: Option<DateTime<Utc>>,
}

impl StoredMove {
    fn rebase(&mut self, basis: Option<&Basis>) {
        if let Some(b) = basis {
            b.apply(&mut StoredFeatures {
                features: &mut self.features,
                signal_at: self.signal_at,
                close_at: self.close_at,
                form_at: self.form_at,
            });
        }
    }
}

fn stored_row(r: &rusqlite::Row<'_>, w: &ApsWeights, at: Option<Basis>) -> rusqlite::Result<Move> {
    let key: String = r.get(0)?;
    let kind: String = r.get(1)?;
    let state: String = r.get(2)?;
    let data: String = r.get(3)?;
    let bad = |e: serde_json::Error| {
        rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
    };
    let mut s: StoredMove = serde_json::from_str(&data).map_err(bad)?;
    s.rebase(at.as_ref());
    let state: MoveState = serde_json::from_str(&state).map_err(bad)?;
    let kind = MoveKind::parse(&kind).unwrap_or(s.features.kind);
    let aps = aps::score(&s.features, w);
    Ok(Move {
        key,
        kind,
        title: s.title,
        who: s.who,
        why: s.why,
        subject: s.subject,
        action: s.action,
        signal_at: s.signal_at,
        last_inbound_at: s.last_inbound_at,
        aps,
        features: Box::new(s.features),
        state,
    })
}

fn filter_sql(f: RankedFilter) -> &'static str {
    match f {
        RankedFilter::All => "1",
        RankedFilter::Actionable => "actionable = 1",
        RankedFilter::Drafts => "in_drafts = 1 AND actionable = 1",
    }
}

impl Store {
    /// Stored moves in rank order (score, then key), `limit` from `offset`.
    pub fn ranked(
        &self,
        filter: RankedFilter,
        offset: usize,
        limit: usize,
        w: &ApsWeights,
    ) -> Result<Vec<Move>> {
        let sql = format!(
            "SELECT key, kind, state, data FROM ranked_moves INDEXED BY ranked_moves_order WHERE {} ORDER BY score DESC, key LIMIT ?1 OFFSET ?2",
            filter_sql(filter)
        );
        let at = self.basis()?;
        let mut st = self.conn().prepare_cached(&sql)?;
        let rows = st.query_map(params![limit.min(i64::MAX as usize) as i64, offset as i64], |r| {
            stored_row(r, w, at)
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Stored moves matching `needle` (title, who, why or type, case-insensitive), in rank order.
    pub fn ranked_matching(
        &self,
        filter: RankedFilter,
        needle: &str,
        limit: usize,
        w: &ApsWeights,
    ) -> Result<Vec<Move>> {
        let sql = format!(
            "SELECT key, kind, state, data FROM ranked_moves INDEXED BY ranked_moves_order
             WHERE {} AND (instr(lower(data), ?1) > 0 OR instr(kind, ?1) > 0) ORDER BY score DESC, key",
            filter_sql(filter)
        );
        let needle = needle.to_lowercase();
        let at = self.basis()?;
        let mut st = self.conn().prepare_cached(&sql)?;
        let mut out = Vec::new();
        let rows = st.query_map([&needle], |r| stored_row(r, w, at))?;
        for m in rows {
            let m = m?;
            let hit = m.title.to_lowercase().contains(&needle)
                || m.who.to_lowercase().contains(&needle)
                || m.why.to_lowercase().contains(&needle)
                || m.kind.as_str().contains(&needle);
            if hit {
                out.push(m);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// One stored move by key.
    pub fn ranked_move(&self, key: &str, w: &ApsWeights) -> Result<Option<Move>> {
        let at = self.basis()?;
        Ok(self
            .conn()
            .prepare_cached("SELECT key, kind, state, data FROM ranked_moves WHERE key = ?1")?
            .query_row([key], |r| stored_row(r, w, at))
            .optional()?)
    }

    /// The clock and scale the stored ranking is settled at (what stored features are read at).
    pub fn basis(&self) -> Result<Option<Basis>> {
        let Some(at) = self.ranked_clock()? else {
            return Ok(None);
        };
        Ok(self
            .stored_scale()?
            .map(|(pipeline_max_value, typical_deal_amount)| Basis {
                at,
                pipeline_max_value,
                typical_deal_amount,
            }))
    }

    /// The revenue scale `(max, typical)` the stored ranking was settled at.
    pub fn stored_scale(&self) -> Result<Option<(f64, f64)>> {
        let scale = self.setting("moves_scale")?.unwrap_or_default();
        let mut parts = scale.split(' ').map(|p| p.parse::<f64>());
        Ok(match (parts.next(), parts.next(), parts.next()) {
            (Some(Ok(max)), Some(Ok(typical)), None) => Some((max, typical)),
            _ => None,
        })
    }

    /// Whether a deal (or a stage, or everything) changed since the last settle: what can move
    /// the revenue scale.
    pub fn deals_dirty(&self) -> Result<bool> {
        Ok(self.conn().query_row(
            "SELECT EXISTS (SELECT 1 FROM move_dirty WHERE kind IN ('deal', 'all'))",
            [],
            |r| r.get(0),
        )?)
    }

    /// The clock the stored ranking was settled at.
    pub fn ranked_clock(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(self.setting("moves_ranked_at")?.map(|s| parse_ts(&s)))
    }

    /// Units of the top `n` actionable moves.
    pub fn top_units(&self, n: usize) -> Result<Vec<String>> {
        self.strings(
            "SELECT unit FROM ranked_moves INDEXED BY ranked_moves_order WHERE actionable = 1 ORDER BY score DESC, key LIMIT ?1",
            [n as i64],
        )
    }

    /// Units whose moves time alone may have changed by `at` (see `move_wake`).
    pub fn woken_units(&self, at: DateTime<Utc>) -> Result<Vec<String>> {
        self.strings("SELECT unit FROM move_wake WHERE at <= ?1", [ts(at)])
    }

    /// Scores every stored move at `basis` from its stored features (re-timed, re-scaled):
    /// exact, and far cheaper than detecting again. Moves that time makes appear or go are the
    /// wake-ups'.
    pub fn rescore_all(&self, basis: &Basis, w: &ApsWeights) -> Result<usize> {
        let mut read = self
            .conn()
            .prepare_cached("SELECT key, data, score FROM ranked_moves")?;
        let rows = read.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, f64>(2)?,
            ))
        })?;
        let mut up = self
            .conn()
            .prepare_cached("UPDATE ranked_moves SET score = ?2 WHERE key = ?1")?;
        let mut n = 0;
        for row in rows {
            let (key, data, old) = row?;
            let mut s: StoredMove = serde_json::from_str(&data)?;
            s.rebase(Some(basis));
            let score = rank_score(aps::score(&s.features, w).score);
            if score.to_bits() != old.to_bits() {
                up.execute(params![key, score])?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Units that depend on `units` through a draft: drafts in their threads and drafts written
    /// for their moves (whether a draft is a move of its own depends on those moves).
    pub fn draft_dependents(&self, units: &mut BTreeSet<String>) -> Result<()> {
        let keyed: Vec<(String, String)> = self
            .conn()
            .prepare_cached("SELECT id, move_key FROM drafts WHERE move_key IS NOT NULL")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut more = Vec::new();
        for (id, key) in keyed {
            if unit_of_key(&key).is_some_and(|u| units.contains(&u)) {
                more.push(format!("draft:{id}"));
            }
        }
        for u in units.iter() {
            if let Some(t) = u.strip_prefix("thread:") {
                for d in self.strings("SELECT id FROM drafts WHERE thread_id = ?1", [t])? {
                    more.push(format!("draft:{d}"));
                }
            }
        }
        units.extend(more);
        Ok(())
    }

    /// Stored moves whose key starts with or contains `query` (at most `limit`).
    pub fn ranked_keys_like(&self, query: &str, limit: usize) -> Result<Vec<String>> {
        let mut st = self.conn().prepare_cached(
            "SELECT key FROM ranked_moves WHERE instr(key, ?1) > 0 ORDER BY score DESC, key LIMIT ?2",
        )?;
        let rows = st.query_map(params![query, limit as i64], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Counts over the stored ranking.
    pub fn ranked_counts(&self) -> Result<RankedCounts> {
        let mut c = RankedCounts::default();
        for g in self.ranked_groups()? {
            c.total += g.n;
            if !g.actionable {
                continue;
            }
            c.actionable += g.n;
            if g.in_drafts {
                c.drafts += g.n;
            }
            match g.state {
                Some(MoveState::Open) => c.open += g.n,
                Some(MoveState::Accepted) => c.accepted += g.n,
                _ => {}
            }
        }
        Ok(c)
    }

    /// Stored moves counted by (actionable, in the Drafts view, kind, state), kept by triggers
    /// in `ranked_groups`: a few dozen rows instead of a test per stored move.
    fn ranked_groups(&self) -> Result<Vec<Group>> {
        let mut st = self
            .conn()
            .prepare_cached("SELECT actionable, in_drafts, kind, state, n FROM ranked_groups")?;
        let rows = st.query_map([], |r| {
            Ok(Group {
                actionable: r.get(0)?,
                in_drafts: r.get(1)?,
                kind: MoveKind::parse(&r.get::<_, String>(2)?),
                state: serde_json::from_str(&r.get::<_, String>(3)?).ok(),
                n: r.get::<_, i64>(4)? as usize,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// What `casey whats-up` counts, over the whole stored ranking in SQL (no move is read).
    pub fn ranked_summary(&self) -> Result<RankedSummary> {
        let mut out = RankedSummary::default();
        for g in self.ranked_groups()?.into_iter().filter(|g| g.actionable) {
            out.actionable += g.n;
            if g.state == Some(MoveState::Accepted) {
                out.accepted += g.n;
            }
            // In the Drafts view: carries a draft (an approve_draft move always does).
            if g.in_drafts {
                out.with_draft += g.n;
            }
            if let Some(k) = g.kind {
                *out.by_kind.entry(k).or_default() += g.n;
            }
        }
        // Stored as UTC RFC 3339 with milliseconds: the text sorts as the time does.
        let oldest: Option<String> = self.conn().query_row(
            "SELECT min(signal_at) FROM ranked_moves WHERE actionable = 1 AND kind = 'reply_inbound'",
            [],
            |r| r.get(0),
        )?;
        out.oldest_reply = parse_ts_opt(oldest);
        Ok(out)
    }

    /// Actionable moves ranked above `key` (its 0-based place on Today's Moves), if it is there.
    pub fn ranked_position(&self, key: &str, filter: RankedFilter) -> Result<Option<usize>> {
        let sql = format!(
            "SELECT (SELECT count(*) FROM ranked_moves o WHERE {} AND (o.score > m.score OR (o.score = m.score AND o.key < m.key)))
             FROM ranked_moves m WHERE m.key = ?1 AND {}",
            filter_sql(filter).replace("actionable", "o.actionable").replace("in_drafts", "o.in_drafts"),
            filter_sql(filter).replace("actionable", "m.actionable").replace("in_drafts", "m.in_drafts"),
        );
        Ok(self
            .conn()
            .prepare_cached(&sql)?
            .query_row([key], |r| r.get::<_, i64>(0))
            .optional()?
            .map(|n| n as usize))
    }

    /// Reads what changed since the last settle (the rows stay until [`Store::clear_dirty`]).
    pub fn dirty(&self) -> Result<DirtySet> {
        let mut st = self
            .conn()
            .prepare_cached("SELECT DISTINCT kind, id FROM move_dirty WHERE kind <> 'unit'")?;
        let rows: Vec<(String, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut set = DirtySet::default();
        let mut by_kind: HashMap<&str, Vec<String>> = HashMap::new();
        for (kind, id) in &rows {
            by_kind.entry(kind.as_str()).or_default().push(id.clone());
        }
        if by_kind.contains_key("all") || by_kind.contains_key("evidence") {
            set.all = true;
        }
        if !set.all {
            self.expand_dirty(&by_kind, &mut set)?;
        }
        set.rows = rows;
        Ok(set)
    }

    /// Forgets the dirty rows a pass has handled (in the pass's transaction).
    pub fn clear_dirty(&self, rows: &[(String, String)]) -> Result<()> {
        let mut st = self
            .conn()
            .prepare_cached("DELETE FROM move_dirty WHERE kind = ?1 AND id = ?2")?;
        for (k, id) in rows {
            st.execute([k, id])?;
        }
        Ok(())
    }

    /// Marks everything for re-detection (a new clock, new weights, a new build).
    pub fn mark_all_dirty(&self) -> Result<()> {
        self.conn()
            .execute("INSERT INTO move_dirty(kind, id) SELECT 'all', '' WHERE NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')", [])?;
        Ok(())
    }

    /// Queues detection units for a chunked pass (`unit` rows of `move_dirty`).
    pub fn queue_units(&self, units: &[String]) -> Result<()> {
        let mut st = self.conn().prepare_cached(
            "INSERT INTO move_dirty(kind, id) SELECT 'unit', ?1
                 WHERE NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'unit' AND id = ?1)",
        )?;
        for u in units {
            st.execute([u])?;
        }
        Ok(())
    }

    /// Up to `limit` queued units.
    pub fn queued_units(&self, limit: usize) -> Result<Vec<String>> {
        self.strings(
            "SELECT DISTINCT id FROM move_dirty WHERE kind = 'unit' ORDER BY id LIMIT ?1",
            [limit as i64],
        )
    }

    /// How many units are queued.
    pub fn queued_count(&self) -> Result<usize> {
        Ok(self.conn().query_row(
            "SELECT count(DISTINCT id) FROM move_dirty WHERE kind = 'unit'",
            [],
            |r| r.get::<_, i64>(0),
        )? as usize)
    }

    /// Takes units off the queue (in the transaction that stored their moves).
    pub fn unqueue_units(&self, units: &[String]) -> Result<()> {
        let mut st = self
            .conn()
            .prepare_cached("DELETE FROM move_dirty WHERE kind = 'unit' AND id = ?1")?;
        for u in units {
            st.execute([u])?;
        }
        Ok(())
    }

    /// Runs `f` in one write transaction taken up front (`BEGIN IMMEDIATE`): no other writer
    /// slips in between what it reads and what it writes. Everything lands or nothing does.
    pub fn immediately<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let tx = rusqlite::Transaction::new_unchecked(self.conn(), rusqlite::TransactionBehavior::Immediate)?;
        let out = f()?;
        tx.commit()?;
        Ok(out)
    }

    fn strings(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<String>> {
        let mut st = self.conn().prepare_cached(sql)?;
        let rows = st.query_map(params, |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Units of stored moves whose `column` is `value`.
    fn units_where(&self, column: &str, value: &str, out: &mut BTreeSet<String>) -> Result<()> {
        let sql = format!("SELECT DISTINCT unit FROM ranked_moves WHERE {column} = ?1");
        out.extend(self.strings(&sql, [value])?);
        Ok(())
    }

    fn expand_dirty(&self, by_kind: &HashMap<&str, Vec<String>>, set: &mut DirtySet) -> Result<()> {
        let ids = |k: &str| by_kind.get(k).map(|v| v.as_slice()).unwrap_or(&[]);
        let units = &mut set.units;
        let assoc_from = |from: &str, to: &str, id: &str| -> Result<Vec<String>> {
            self.strings(
                "SELECT from_id FROM associations INDEXED BY associations_target WHERE from_type = ?1 AND to_type = ?2 AND to_id = ?3",
                [from, to, id],
            )
        };
        let assoc_to = |from: &str, id: &str, to: &str| -> Result<Vec<String>> {
            self.strings(
                "SELECT to_id FROM associations WHERE from_type = ?1 AND from_id = ?2 AND to_type = ?3",
                [from, id, to],
            )
        };
        for t in ids("thread") {
            units.insert(format!("thread:{t}"));
            for d in self.strings("SELECT id FROM drafts WHERE thread_id = ?1", [t])? {
                units.insert(format!("draft:{d}"));
            }
        }
        let mut contacts: BTreeSet<String> = ids("contact").iter().cloned().collect();
        for e in ids("email") {
            contacts.extend(self.strings("SELECT id FROM contacts WHERE email = ?1", [e])?);
            self.units_where("email", e, units)?;
        }
        for e in ids("person") {
            contacts.extend(self.strings("SELECT id FROM contacts WHERE email = ?1", [e])?);
            self.units_where("email", e, units)?;
            for t in self.strings(
                "SELECT DISTINCT m.thread_id FROM message_addresses a JOIN messages m ON m.id = a.message_id WHERE a.email = ?1",
                [e],
            )? {
                units.insert(format!("thread:{t}"));
            }
        }
        let mut deals: BTreeSet<String> = ids("deal").iter().cloned().collect();
        for n in ids("note") {
            deals.extend(assoc_to("notes", n, "deals")?);
        }
        for c in &contacts {
            units.insert(format!("contact:{c}"));
            self.units_where("contact_id", c, units)?;
            for d in assoc_from("deals", "contacts", c)? {
                deals.insert(d);
            }
            for t in assoc_from("tasks", "contacts", c)? {
                units.insert(format!("task:{t}"));
            }
        }
        for d in &deals {
            units.insert(format!("deal:{d}"));
            self.units_where("deal_id", d, units)?;
            for c in assoc_to("deals", d, "contacts")? {
                self.units_where("contact_id", &c, units)?;
            }
            for c in assoc_to("deals", d, "companies")? {
                self.units_where("company_id", &c, units)?;
            }
            for t in assoc_from("tasks", "deals", d)? {
                units.insert(format!("task:{t}"));
            }
        }
        for c in ids("company") {
            self.units_where("company_id", c, units)?;
        }
        for t in ids("task") {
            units.insert(format!("task:{t}"));
        }
        for d in ids("draft") {
            units.insert(format!("draft:{d}"));
            self.units_where("draft_id", d, units)?;
        }
        for k in ids("key") {
            if let Some(u) = unit_of_key(k) {
                units.insert(u);
            }
        }
        set.states.extend(ids("state").iter().cloned());
        self.draft_dependents(units)?;
        Ok(())
    }

    /// Every detection unit of the mirror, and those of stored moves (which may be gone).
    pub fn all_units(&self) -> Result<Vec<String>> {
        let mut units: BTreeSet<String> = BTreeSet::new();
        for (prefix, sql) in [
            ("thread", "SELECT DISTINCT thread_id FROM messages"),
            ("deal", "SELECT id FROM deals"),
            ("contact", "SELECT id FROM contacts"),
            ("task", "SELECT id FROM tasks"),
            ("draft", "SELECT id FROM drafts"),
        ] {
            for id in self.strings(sql, [])? {
                units.insert(format!("{prefix}:{id}"));
            }
        }
        units.extend(self.strings("SELECT DISTINCT unit FROM ranked_moves", [])?);
        Ok(units.into_iter().collect())
    }

    /// The revenue scale and typical deal over every open deal (see
    /// [`crate::domain::entities::pipeline_scale`]).
    pub fn pipeline_scale(&self) -> Result<(f64, f64)> {
        let mut st = self.conn().prepare_cached(PIPELINE_SQL)?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, Option<f64>>(0)?,
                r.get::<_, Option<f64>>(1)?,
                r.get::<_, Option<bool>>(2)?,
            ))
        })?;
        let mut open = Vec::new();
        for row in rows {
            let (amount, p, closed) = row?;
            if closed != Some(true) {
                open.push((amount, p.unwrap_or(0.0)));
            }
        }
        Ok(pipeline_scale(&open))
    }

    fn in_chunks<T>(
        &self,
        ids: &BTreeSet<String>,
        sql: &str,
        mut f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let ids: Vec<&String> = ids.iter().collect();
        let mut out = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let q = sql.replace("(?)", &format!("({})", placeholders(chunk.len())));
            let mut st = self.conn().prepare(&q)?;
            let rows = st.query_map(params_from_iter(chunk), &mut f)?;
            for r in rows {
                out.push(r?);
            }
        }
        Ok(out)
    }

    /// `(from_id, to_id)` of the associations from the given records to `to_type`.
    fn links_of(
        &self,
        from_type: &str,
        ids: &BTreeSet<String>,
        to_type: &str,
    ) -> Result<HashMap<String, Vec<String>>> {
        let sql = format!(
            "SELECT from_id, to_id FROM associations WHERE from_type = '{from_type}' AND to_type = '{to_type}'
             AND from_id IN (?) ORDER BY from_id, to_id"
        );
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (from, to) in self.in_chunks(ids, &sql, |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })? {
            map.entry(from).or_default().push(to);
        }
        for v in map.values_mut() {
            v.sort();
        }
        Ok(map)
    }

    fn deals_by_id(&self, ids: &BTreeSet<String>) -> Result<Vec<Deal>> {
        let mut deals = self.in_chunks(ids, "SELECT * FROM deals WHERE id IN (?)", deal_row)?;
        let contacts = self.links_of("deals", ids, "contacts")?;
        let companies = self.links_of("deals", ids, "companies")?;
        for d in &mut deals {
            d.contact_ids = contacts.get(&d.id).cloned().unwrap_or_default();
            d.company_ids = companies.get(&d.id).cloned().unwrap_or_default();
        }
        Ok(deals)
    }

    /// The part of the mirror that detecting `units` reads, and the figures over the whole
    /// mirror it needs (see [`MirrorContext`]). Units a draft's move depends on (its thread, the
    /// move it was written for) are read too, so whether the draft is taken is decided right.
    pub fn load_slice(&self, units: &HashSet<String>) -> Result<(Mirror, MirrorContext)> {
        self.load_slice_scaled(units, self.pipeline_scale()?)
    }

    /// [`Store::load_slice`] with the revenue scale `(max, typical)` already known (a settle
    /// pass reads it once, not per slice).
    pub fn load_slice_scaled(
        &self,
        units: &HashSet<String>,
        (pipeline_max_value, typical_deal_amount): (f64, f64),
    ) -> Result<(Mirror, MirrorContext)> {
        let mut threads = BTreeSet::new();
        let mut deal_units = BTreeSet::new();
        let mut contact_units = BTreeSet::new();
        let mut task_units = BTreeSet::new();
        let mut draft_units = BTreeSet::new();
        let add = |u: &str,
                   threads: &mut BTreeSet<String>,
                   deal_units: &mut BTreeSet<String>,
                   contact_units: &mut BTreeSet<String>,
                   task_units: &mut BTreeSet<String>,
                   draft_units: &mut BTreeSet<String>| {
            if let Some((kind, id)) = u.split_once(':') {
                let id = id.to_string();
                match kind {
                    "thread" => threads.insert(id),
                    "deal" => deal_units.insert(id),
                    "contact" => contact_units.insert(id),
                    "task" => task_units.insert(id),
                    "draft" => draft_units.insert(id),
                    _ => false,
                };
            }
        };
        for u in units {
            add(
                u,
                &mut threads,
                &mut deal_units,
                &mut contact_units,
                &mut task_units,
                &mut draft_units,
            );
        }
        // Drafts with a move key: few (CaseyOS writes them), read whole and matched by unit.
        let keyed: Vec<Draft> = self
            .conn()
            .prepare_cached(
                "SELECT id, thread_id, to_json, subject, body, updated_at, in_reply_to, move_key FROM drafts
                 WHERE move_key IS NOT NULL",
            )?
            .query_map([], draft_row)?
            .collect::<rusqlite::Result<_>>()?;
        let requested_drafts = self.in_chunks(
            &draft_units,
            "SELECT id, thread_id, to_json, subject, body, updated_at, in_reply_to, move_key FROM drafts WHERE id IN (?)",
            draft_row,
        )?;
        for d in &requested_drafts {
            if let Some(t) = &d.thread_id {
                threads.insert(t.clone());
            }
            if let Some(u) = d.move_key.as_deref().and_then(unit_of_key) {
                add(
                    &u,
                    &mut threads,
                    &mut deal_units,
                    &mut contact_units,
                    &mut task_units,
                    &mut draft_units,
                );
            }
        }
        let all_units: HashSet<String> = threads
            .iter()
            .map(|t| format!("thread:{t}"))
            .chain(deal_units.iter().map(|d| format!("deal:{d}")))
            .chain(contact_units.iter().map(|c| format!("contact:{c}")))
            .chain(task_units.iter().map(|t| format!("task:{t}")))
            .collect();
        let messages = self.in_chunks(
            &threads,
            "SELECT id, thread_id, at, from_name, from_email, to_json, cc_json, subject, snippet, '' AS body,
                    labels_json, message_id_header, outbound, automated FROM messages WHERE thread_id IN (?)
             ORDER BY thread_id, at, id",
            message_row,
        )?;
        let mut drafts: HashMap<String, Draft> = HashMap::new();
        for d in requested_drafts {
            drafts.insert(d.id.clone(), d);
        }
        for d in self.in_chunks(
            &threads,
            "SELECT id, thread_id, to_json, subject, body, updated_at, in_reply_to, move_key FROM drafts WHERE thread_id IN (?)",
            draft_row,
        )? {
            drafts.insert(d.id.clone(), d);
        }
        for d in keyed {
            if d.move_key
                .as_deref()
                .and_then(unit_of_key)
                .is_some_and(|u| all_units.contains(&u))
            {
                drafts.insert(d.id.clone(), d);
            }
        }
        let mut drafts: Vec<Draft> = drafts.into_values().collect();
        drafts.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then_with(|| a.id.cmp(&b.id)));

        let mut tasks: Vec<Task> =
            self.in_chunks(&task_units, "SELECT * FROM tasks WHERE id IN (?)", task_row)?;
        let task_contacts = self.links_of("tasks", &task_units, "contacts")?;
        let task_deals = self.links_of("tasks", &task_units, "deals")?;
        for t in &mut tasks {
            t.contact_ids = task_contacts.get(&t.id).cloned().unwrap_or_default();
            t.deal_ids = task_deals.get(&t.id).cloned().unwrap_or_default();
        }
        let mut deal_ids = deal_units.clone();
        for t in &tasks {
            deal_ids.extend(t.deal_ids.iter().cloned());
        }
        let mut deals = self.deals_by_id(&deal_ids)?;

        // People: by id (units, deals, tasks) and by every address the slice's mail names.
        let mut contact_ids = contact_units.clone();
        for d in deals.iter().filter(|d| deal_units.contains(&d.id)) {
            contact_ids.extend(d.contact_ids.iter().cloned());
        }
        for t in &tasks {
            contact_ids.extend(t.contact_ids.iter().cloned());
        }
        let mut emails: BTreeSet<String> = BTreeSet::new();
        for m in &messages {
            emails.insert(m.from.email.clone());
            emails.extend(m.to.iter().chain(m.cc.iter()).map(|b| b.email.clone()));
        }
        for d in &drafts {
            emails.extend(d.to.iter().map(|b| b.email.clone()));
        }
        let mut contacts: HashMap<String, Contact> = HashMap::new();
        for c in self.in_chunks(
            &contact_ids,
            "SELECT * FROM contacts WHERE id IN (?)",
            contact_row,
        )? {
            contacts.insert(c.id.clone(), c);
        }
        for c in self.in_chunks(&emails, "SELECT * FROM contacts WHERE email IN (?)", contact_row)? {
            contacts.insert(c.id.clone(), c);
        }
        // Every open deal a person or their company has (the best one carries the revenue).
        let people: BTreeSet<String> = contacts.keys().cloned().collect();
        let companies_of_people: BTreeSet<String> =
            contacts.values().filter_map(|c| c.company_id.clone()).collect();
        let mut more_deals: BTreeSet<String> = BTreeSet::new();
        for ds in self.links_to("deals", "contacts", &people)? {
            more_deals.insert(ds);
        }
        for ds in self.links_to("deals", "companies", &companies_of_people)? {
            more_deals.insert(ds);
        }
        let have: HashSet<String> = deals.iter().map(|d| d.id.clone()).collect();
        let more_deals: BTreeSet<String> = more_deals.into_iter().filter(|d| !have.contains(d)).collect();
        deals.extend(self.deals_by_id(&more_deals)?);
        deals.sort_by(|a, b| a.id.cmp(&b.id));
        let mut company_ids = companies_of_people;
        for d in &deals {
            company_ids.extend(d.company_ids.iter().cloned());
        }
        let mut companies = self.in_chunks(
            &company_ids,
            "SELECT * FROM companies WHERE id IN (?)",
            company_row,
        )?;
        companies.sort_by(|a, b| a.id.cmp(&b.id));
        let mut contacts: Vec<Contact> = contacts.into_values().collect();
        contacts.sort_by(|a, b| a.id.cmp(&b.id));
        let stages = self
            .conn()
            .prepare_cached(
                "SELECT id, pipeline_id, label, display_order, probability, is_closed FROM stages ORDER BY pipeline_id, display_order",
            )?
            .query_map([], stage_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;

        // Figures over the whole mirror, for the addresses a move can be about: senders of
        // mail written by people, the first recipient of our mail and of drafts, the people in
        // the slice. Not every address on the slice's mail: the operator's own, a teammate on
        // copy and a notification sender are on a large share of all messages, and reading
        // their figures would scan the mailbox for every slice.
        let mut wanted: BTreeSet<String> = BTreeSet::new();
        for m in messages.iter().filter(|m| !m.automated) {
            if m.outbound {
                wanted.extend(m.to.iter().chain(m.cc.iter()).next().map(|b| b.email.clone()));
            } else {
                wanted.insert(m.from.email.clone());
            }
        }
        for d in &drafts {
            wanted.extend(d.to.first().map(|b| b.email.clone()));
        }
        let operator = self.setting("operator_email")?;
        if let Some(me) = &operator {
            wanted.remove(me);
        }
        wanted.extend(contacts.iter().filter_map(|c| c.email.clone()));
        let emails = wanted;
        // Two index seeks per address (`message_addresses_dir`): the latest of our mail to it
        // and of its mail to us, non-automated messages only.
        let mut email_stats = HashMap::new();
        let mut st = self.conn().prepare_cached(MAIL_FIGURES_SQL)?;
        for email in emails {
            let (sent, from) = st.query_row([&email], |r| {
                Ok((
                    parse_ts_opt(r.get::<_, Option<String>>(0)?),
                    parse_ts_opt(r.get::<_, Option<String>>(1)?),
                ))
            })?;
            if sent.is_none() && from.is_none() {
                continue;
            }
            email_stats.insert(
                email,
                EmailStats {
                    last_exchange: sent.max(from),
                    emailed: sent.is_some(),
                    replied: from.is_some(),
                },
            );
        }
        let deal_set: BTreeSet<String> = deals.iter().map(|d| d.id.clone()).collect();
        let mut last_note_by_deal = HashMap::new();
        for (deal, at) in self.in_chunks(
            &deal_set,
            "SELECT a.to_id, max(n.at) FROM associations a JOIN notes n ON n.id = a.from_id
             WHERE a.from_type = 'notes' AND a.to_type = 'deals' AND n.at IS NOT NULL AND a.to_id IN (?) GROUP BY a.to_id",
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)),
        )? {
            if let Some(at) = parse_ts_opt(at) {
                last_note_by_deal.insert(deal, at);
            }
        }
        let mirror = Mirror {
            operator_email: operator,
            contacts,
            companies,
            deals,
            stages,
            tasks,
            notes: Vec::new(),
            messages,
            drafts,
        };
        let ctx = MirrorContext {
            email_stats,
            last_note_by_deal,
            pipeline_max_value,
            typical_deal_amount,
        };
        Ok((mirror, ctx))
    }

    /// Every message sent from one of `emails` (bodies left out, as in [`Store::load_slice`]).
    pub fn messages_from(&self, emails: &BTreeSet<String>) -> Result<Vec<crate::domain::entities::Message>> {
        self.in_chunks(
            emails,
            "SELECT id, thread_id, at, from_name, from_email, to_json, cc_json, subject, snippet, '' AS body,
                    labels_json, message_id_header, outbound, automated FROM messages WHERE from_email IN (?)",
            message_row,
        )
    }

    /// Ids of records of `from_type` associated to any of `ids` of `to_type`.
    fn links_to(&self, from_type: &str, to_type: &str, ids: &BTreeSet<String>) -> Result<Vec<String>> {
        let sql = format!(
            "SELECT DISTINCT from_id FROM associations INDEXED BY associations_target
             WHERE from_type = '{from_type}' AND to_type = '{to_type}' AND to_id IN (?)"
        );
        self.in_chunks(ids, &sql, |r| r.get::<_, String>(0))
    }

    /// The decision in force on one move, if any.
    pub fn decision(&self, key: &str) -> Result<Option<Decision>> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT state, reason, snooze_until, until_reply, decided_at FROM decisions
                 WHERE move_key = ?1 AND undone_at IS NULL ORDER BY id DESC LIMIT 1",
            )?
            .query_row([key], |r| {
                let state: String = r.get(0)?;
                let decided: String = r.get(4)?;
                Ok(Decision {
                    move_key: key.to_string(),
                    state: super::state::state_row(&state, r.get(1)?, r.get(2)?, r.get(3)?),
                    decided_at: parse_ts(&decided),
                })
            })
            .optional()?)
    }

    /// Replaces the stored moves of `units` with `moves` (their states applied at `now`);
    /// returns the moves never seen before (first sighting, for `recommendation_generated`).
    ///
    /// Only what differs is written: a row detected again exactly as stored is left alone, a
    /// changed one is updated in place, a vanished one deleted. Each stored row sits in a
    /// dozen indexes, so rewriting every row of a re-detected unit (most are unchanged: a
    /// deal's new close date re-detects its contacts' moves too) wrote thousands of pages per
    /// sync page.
    pub fn replace_unit_moves(
        &self,
        units: &HashSet<String>,
        moves: &mut [Move],
        wakes: &HashMap<String, DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Vec<usize>> {
        let mut old_rows: HashMap<String, RankedRow> = HashMap::new();
        let mut old_wakes: HashMap<String, String> = HashMap::new();
        {
            let mut read = self.conn().prepare_cached(
                "SELECT key, unit, kind, score, state, actionable, in_drafts, contact_id, company_id, deal_id,
                        thread_id, draft_id, task_id, email, signal_at, data FROM ranked_moves WHERE unit = ?1",
            )?;
            let mut read_wake = self
                .conn()
                .prepare_cached("SELECT at FROM move_wake WHERE unit = ?1")?;
            for u in units {
                let rows = read.query_map([u], |r| Ok((r.get::<_, String>(0)?, RankedRow::read(r)?)))?;
                for row in rows {
                    let (key, row) = row?;
                    old_rows.insert(key, row);
                }
                if let Some(at) = read_wake.query_row([u], |r| r.get::<_, String>(0)).optional()? {
                    old_wakes.insert(u.clone(), at);
                }
            }
        }
        // Wake-ups: only those that changed.
        let mut unwake = self
            .conn()
            .prepare_cached("DELETE FROM move_wake WHERE unit = ?1")?;
        let mut wake = self
            .conn()
            .prepare_cached("INSERT OR REPLACE INTO move_wake(unit, at) VALUES (?1, ?2)")?;
        for u in units {
            let new = wakes.get(u).map(|at| ts(*at));
            match (old_wakes.get(u), new) {
                (Some(old), Some(new)) if *old == new => {}
                (_, Some(new)) => {
                    wake.execute(params![u, new])?;
                }
                (Some(_), None) => {
                    unwake.execute([u])?;
                }
                (None, None) => {}
            }
        }
        let mut form = self
            .conn()
            .prepare_cached("SELECT recent_conversion_at FROM contacts WHERE id = ?1")?;
        // A plain insert after a delete, never `OR REPLACE`: a replaced row fires no delete
        // trigger, and `ranked_groups` would count it twice.
        let mut ins = self.conn().prepare_cached(
            "INSERT INTO ranked_moves(key, unit, kind, score, state, actionable, in_drafts, contact_id,
               company_id, deal_id, thread_id, draft_id, task_id, email, signal_at, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        )?;
        // The same record and kind (the common change: a score, a text, a state): the columns
        // the subject indexes read stay untouched.
        let mut up = self.conn().prepare_cached(
            "UPDATE ranked_moves SET score = ?2, state = ?3, actionable = ?4, in_drafts = ?5, signal_at = ?6, data = ?7
             WHERE key = ?1",
        )?;
        let mut known = self.conn().prepare_cached("SELECT 1 FROM moves WHERE key = ?1")?;
        let mut seen = self.conn().prepare_cached(
            "INSERT INTO moves(key, kind, title, aps, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?5)
             ON CONFLICT(key) DO UPDATE SET title = excluded.title, aps = excluded.aps, last_seen = excluded.last_seen",
        )?;
        let mut del = self
            .conn()
            .prepare_cached("DELETE FROM ranked_moves WHERE key = ?1")?;
        let stamp = ts(now);
        let mut new = Vec::new();
        let mut kept: HashSet<&str> = HashSet::new();
        for (i, m) in moves.iter_mut().enumerate() {
            let Some(unit) = unit_of_key(&m.key) else { continue };
            m.state = effective_state(m, self.decision(&m.key)?.as_ref(), now);
            let data = StoredMove {
                title: m.title.clone(),
                who: m.who.clone(),
                why: m.why.clone(),
                subject: m.subject.clone(),
                action: m.action.clone(),
                signal_at: m.signal_at,
                last_inbound_at: m.last_inbound_at,
                features: (*m.features).clone(),
                close_at: (m.kind == MoveKind::ClosingSoon)
                    .then(|| m.signal_at + chrono::Duration::days(m.features.closing_window_days as i64)),
                form_at: match &m.subject.contact_id {
                    Some(c) => form
                        .query_row([c], |r| r.get::<_, Option<String>>(0))
                        .optional()?
                        .flatten()
                        .map(|t| parse_ts(&t)),
                    None => None,
                },
            };
            let s = &m.subject;
            let mut data_text = serde_json::to_string(&data)?;
            // Detected again at a later clock, a move's features differ only by the time that
            // passed: the stored ones, brought to this clock when read, give the same. Keep them
            // (re-detecting the top of the list every minute then writes only moves whose
            // texts changed).
            if let Some(old) = old_rows.get(&m.key)
                && old.data != data_text
                && let Ok(mut before) = serde_json::from_str::<StoredMove>(&old.data)
            {
                before.rebase(Some(&Basis {
                    at: now,
                    pipeline_max_value: data.features.pipeline_max_value,
                    typical_deal_amount: data.features.typical_deal_amount,
                }));
                if before == data {
                    data_text.clone_from(&old.data);
                }
            }
            let row = RankedRow {
                unit,
                kind: m.kind.as_str().to_string(),
                score: rank_score(m.aps.score),
                state: serde_json::to_string(&m.state)?,
                actionable: m.state.is_actionable(),
                in_drafts: s.draft_id.is_some() || m.kind == MoveKind::ApproveDraft,
                contact_id: s.contact_id.clone(),
                company_id: s.company_id.clone(),
                deal_id: s.deal_id.clone(),
                thread_id: s.thread_id.clone(),
                draft_id: s.draft_id.clone(),
                task_id: s.task_id.clone(),
                email: s.email.clone(),
                signal_at: ts(m.signal_at),
                data: data_text,
            };
            kept.insert(m.key.as_str());
            match old_rows.get(&m.key) {
                Some(old) if *old == row => continue,
                Some(old) if old.same_subject(&row) => {
                    up.execute(params![
                        m.key,
                        row.score,
                        row.state,
                        row.actionable,
                        row.in_drafts,
                        row.signal_at,
                        row.data
                    ])?;
                }
                _ => {
                    del.execute([&m.key])?;
                    ins.execute(params![
                        m.key,
                        row.unit,
                        row.kind,
                        row.score,
                        row.state,
                        row.actionable,
                        row.in_drafts,
                        row.contact_id,
                        row.company_id,
                        row.deal_id,
                        row.thread_id,
                        row.draft_id,
                        row.task_id,
                        row.email,
                        row.signal_at,
                        row.data,
                    ])?;
                }
            }
            if !known.exists([&m.key])? {
                new.push(i);
            }
            seen.execute(params![m.key, m.kind.as_str(), m.title, m.aps.score, stamp])?;
        }
        for key in old_rows.keys().filter(|k| !kept.contains(k.as_str())) {
            del.execute([key])?;
        }
        Ok(new)
    }

    /// Applies the decisions in force to stored moves `keys` (their state at `now`).
    pub fn refresh_states(&self, keys: &BTreeSet<String>, now: DateTime<Utc>, w: &ApsWeights) -> Result<()> {
        let mut up = self
            .conn()
            .prepare_cached("UPDATE ranked_moves SET state = ?2, actionable = ?3 WHERE key = ?1")?;
        for k in keys {
            let Some(m) = self.ranked_move(k, w)? else {
                continue;
            };
            let state = effective_state(&m, self.decision(k)?.as_ref(), now);
            if state != m.state {
                up.execute(params![k, serde_json::to_string(&state)?, state.is_actionable()])?;
            }
        }
        Ok(())
    }

    /// Re-applies every decision at `now` (snoozes wake, new signals reopen).
    pub fn refresh_all_states(&self, now: DateTime<Utc>, w: &ApsWeights) -> Result<()> {
        let keys: BTreeSet<String> = self
            .strings(
                "SELECT DISTINCT r.key FROM ranked_moves r JOIN decisions d ON d.move_key = r.key",
                [],
            )?
            .into_iter()
            .collect();
        self.refresh_states(&keys, now, w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The query plan of `sql`, one line per step.
    fn plan(store: &Store, sql: &str) -> String {
        let mut st = store
            .conn()
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let rows = st.query_map([], |r| r.get::<_, String>(3)).unwrap();
        rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn the_lookups_of_a_settle_pass_read_their_indexes_not_their_tables() {
        let store = Store::open_in_memory().unwrap();
        let figures = plan(&store, &MAIL_FIGURES_SQL.replace("?1", "'a@b.example'"));
        assert_eq!(
            figures
                .matches("USING COVERING INDEX message_addresses_dir (email=? AND dir=?)")
                .count(),
            2,
            "{figures}"
        );
        let scale = plan(&store, PIPELINE_SQL);
        assert!(
            scale.contains("SCAN d USING COVERING INDEX deals_scale"),
            "{scale}"
        );
        // By target, one or many: the primary key's `from_type` prefix alone would walk every
        // association of that type.
        for sql in [
            "SELECT from_id FROM associations INDEXED BY associations_target WHERE from_type = 'deals' AND to_type = 'contacts' AND to_id = '1'",
            "SELECT DISTINCT from_id FROM associations INDEXED BY associations_target WHERE from_type = 'deals' AND to_type = 'companies' AND to_id IN ('1', '2')",
        ] {
            let p = plan(&store, sql);
            assert!(
                p.contains("COVERING INDEX associations_target (to_type=? AND to_id=? AND from_type=?)"),
                "{p}"
            );
        }
    }

    #[test]
    fn a_message_deleted_by_any_path_takes_its_address_rows_along() {
        use crate::domain::entities::{Mailbox, Message, MessageRecord};
        let mut store = Store::open_in_memory().unwrap();
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let person = Mailbox {
            name: Some("Ann".into()),
            email: "ann@acme.example".into(),
        };
        let me = Mailbox {
            name: None,
            email: "me@seller.example".into(),
        };
        let m = Message {
            id: "m1".into(),
            thread_id: "t1".into(),
            at,
            from: person,
            to: vec![me],
            cc: vec![],
            subject: "Pricing".into(),
            snippet: "hi".into(),
            body: "hi".into(),
            labels: vec![],
            message_id_header: None,
            outbound: false,
            automated: false,
        };
        let batch = crate::store::MirrorBatch {
            messages: vec![MessageRecord::new(m, None)],
            ..Default::default()
        };
        store.apply_batch(&batch).unwrap();
        let units: HashSet<String> = ["thread:t1".to_string()].into();
        let figures = |store: &Store| store.load_slice(&units).unwrap().1.email_stats;
        let ann = figures(&store);
        assert!(ann["ann@acme.example"].replied, "{ann:?}");
        // As `casey forget` removes a row that names someone: by rowid, nothing else.
        store
            .conn()
            .execute("DELETE FROM messages WHERE id = 'm1'", [])
            .unwrap();
        let left: i64 = store
            .conn()
            .query_row("SELECT count(*) FROM message_addresses", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
        assert!(figures(&store).is_empty());
    }

    #[test]
    fn an_address_row_counts_for_the_figures_as_the_whole_mirror_does() {
        use super::super::address_dir;
        assert_eq!(address_dir("to", true, false), Some(1));
        assert_eq!(address_dir("cc", true, false), Some(1));
        assert_eq!(address_dir("from", true, false), None, "the operator as sender");
        assert_eq!(address_dir("from", false, false), Some(2));
        assert_eq!(address_dir("to", false, false), None, "copies of inbound mail");
        assert_eq!(address_dir("to", true, true), None, "automated mail never counts");
        assert_eq!(address_dir("from", false, true), None);
    }
}
