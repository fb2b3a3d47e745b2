//! Outcomes of executed moves: what is watched, what was recorded, and the evidence learning
//! and the backtest read.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{Result, Store, parse_ts, ts};
use crate::domain::learn::{Evidence, Segment};
use crate::domain::outcomes::{Execution, Outcome, OutcomePass, Sources, Synced, Watch, kind_of_key};

/// One recorded `recommendation_generated` event, for the backtest.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    /// The move's key.
    pub move_key: String,
    /// When it was first generated.
    pub at: DateTime<Utc>,
    /// The event payload (`kind`, `aps`, `parts`, `features`).
    pub payload: serde_json::Value,
}

/// One recorded outcome: what, when it happened, when it was recorded.
type OutcomeRow = (Outcome, DateTime<Utc>, DateTime<Utc>);

impl Store {
    /// Every executed move: the first `done` decision still in force per move key, with what
    /// was captured about it when it was first seen.
    pub fn executions(&self) -> Result<Vec<Execution>> {
        let mut st = self.conn().prepare(
            "SELECT d.move_key, min(d.decided_at), w.thread_id, w.deal_id, w.contact_id, w.from_stage_id,
                    w.lifecycle, w.industry, w.size_band, w.move_key IS NOT NULL
             FROM decisions d LEFT JOIN outcome_watch w ON w.move_key = d.move_key
             WHERE d.state = 'done' AND d.undone_at IS NULL
             GROUP BY d.move_key ORDER BY d.move_key",
        )?;
        let rows = st.query_map([], |r| {
            let key: String = r.get(0)?;
            let at: String = r.get(1)?;
            let watched: bool = r.get(9)?;
            let watch = if watched {
                Some(Watch {
                    thread_id: r.get(2)?,
                    deal_id: r.get(3)?,
                    contact_id: r.get(4)?,
                    from_stage_id: r.get(5)?,
                    segment: Segment {
                        lifecycle: r.get::<_, Option<String>>(6)?.unwrap_or_default(),
                        industry: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
                        size_band: r.get::<_, Option<String>>(8)?.unwrap_or_default(),
                    },
                })
            } else {
                None
            };
            Ok((key, at, watch))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (key, at, watch) = row?;
            let Some(kind) = kind_of_key(&key) else { continue };
            out.push(Execution {
                move_key: key,
                kind,
                executed_at: parse_ts(&at),
                watch,
            });
        }
        Ok(out)
    }

    /// How far Gmail and HubSpot are synced, for closing outcome windows: the start of each
    /// source's latest successful sync, or [`Synced::Unrecorded`] when it never synced at all.
    pub fn outcome_sources(&self) -> Result<Sources> {
        let synced = |source: &str| -> Result<Synced> {
            Ok(match self.last_sync(source)? {
                None => Synced::Unrecorded,
                Some(r) => Synced::LastSuccess(r.succeeded_at),
            })
        };
        Ok(Sources {
            gmail: synced("gmail")?,
            hubspot: synced("hubspot")?,
        })
    }

    /// Every recorded outcome per move key: `(outcome, when it happened, when it was recorded)`,
    /// in a stable order.
    fn outcome_rows(&self) -> Result<HashMap<String, Vec<OutcomeRow>>> {
        let mut st = self.conn().prepare(
            "SELECT move_key, outcome, coalesce(outcome_at, recorded_at), recorded_at FROM outcomes ORDER BY id",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut out: HashMap<String, Vec<_>> = HashMap::new();
        for row in rows {
            let (key, outcome, at, recorded_at) = row?;
            if let Some(o) = Outcome::parse(&outcome) {
                out.entry(key)
                    .or_default()
                    .push((o, parse_ts(&at), parse_ts(&recorded_at)));
            }
        }
        Ok(out)
    }

    /// `(move key, outcome)` of every recorded outcome.
    pub fn recorded_outcomes(&self) -> Result<HashSet<(String, Outcome)>> {
        let mut st = self
            .conn()
            .prepare("SELECT DISTINCT move_key, outcome FROM outcomes")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = HashSet::new();
        for row in rows {
            let (key, outcome) = row?;
            if let Some(o) = Outcome::parse(&outcome) {
                out.insert((key, o));
            }
        }
        Ok(out)
    }

    /// Stores one outcome pass in a transaction: the new watches, the new outcomes with an
    /// `outcome_recorded` telemetry event for each, and drops the `no_outcome` rows a success
    /// replaced. Returns how many outcomes were recorded.
    pub fn apply_outcome_pass(&mut self, pass: &OutcomePass, now: DateTime<Utc>) -> Result<usize> {
        let tx = self.conn_mut().transaction()?;
        let mut recorded = 0;
        {
            let mut watch = tx.prepare_cached(
                "INSERT OR IGNORE INTO outcome_watch(move_key, kind, executed_at, thread_id, deal_id, contact_id,
                     from_stage_id, lifecycle, industry, size_band, watched_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for (key, kind, at, w) in &pass.watches {
                watch.execute(params![
                    key,
                    kind.as_str(),
                    ts(*at),
                    w.thread_id,
                    w.deal_id,
                    w.contact_id,
                    w.from_stage_id,
                    w.segment.lifecycle,
                    w.segment.industry,
                    w.segment.size_band,
                    ts(now)
                ])?;
            }
            let mut exists =
                tx.prepare_cached("SELECT count(*) FROM outcomes WHERE move_key = ?1 AND outcome = ?2")?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO outcomes(move_key, outcome, evidence, recorded_at, kind, outcome_at, executed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            let mut telemetry = tx.prepare_cached(
                "INSERT INTO telemetry(event, move_key, payload, at) VALUES ('outcome_recorded', ?1, ?2, ?3)",
            )?;
            for o in &pass.outcomes {
                let n: i64 = exists.query_row(params![o.move_key, o.outcome.as_str()], |r| r.get(0))?;
                if n > 0 {
                    continue;
                }
                insert.execute(params![
                    o.move_key,
                    o.outcome.as_str(),
                    o.evidence.to_string(),
                    ts(now),
                    o.kind.as_str(),
                    ts(o.outcome_at),
                    ts(o.executed_at)
                ])?;
                let payload = serde_json::json!({
                    "outcome": o.outcome.as_str(),
                    "kind": o.kind.as_str(),
                    "outcome_at": ts(o.outcome_at),
                    "executed_at": ts(o.executed_at),
                });
                telemetry.execute(params![o.move_key, payload.to_string(), ts(now)])?;
                recorded += 1;
            }
            let mut replace = tx.prepare_cached(
                "DELETE FROM outcomes WHERE move_key = ?1 AND outcome = 'no_outcome'
                   AND EXISTS (SELECT 1 FROM outcomes o WHERE o.move_key = ?1 AND o.outcome <> 'no_outcome')",
            )?;
            for key in &pass.superseded {
                replace.execute([key])?;
            }
        }
        tx.commit()?;
        Ok(recorded)
    }

    /// Finished trials for learning at `now`: every observable execution whose `done` decision
    /// is still in force and whose window of `window_days` is closed (the deadline passed and
    /// its sources synced after it, see [`Watch::window_closed`]); a success when a success
    /// outcome within the window was recorded at or before `now`. Executions still inside their
    /// window are not counted, whatever came of them so far, so early successes do not inflate
    /// the rate; outcomes recorded after `now` are not seen.
    pub fn learning_evidence(&self, now: DateTime<Utc>, window_days: i64) -> Result<Evidence> {
        let sources = self.outcome_sources()?;
        let outcomes = self.outcome_rows()?;
        let mut e = Evidence::new();
        for ex in self.executions()? {
            let Some(w) = ex.watch else { continue };
            if !w.window_closed(ex.executed_at, window_days, now, &sources) {
                continue;
            }
            let deadline = ex.executed_at + chrono::Duration::days(window_days);
            let success = outcomes.get(&ex.move_key).is_some_and(|rows| {
                rows.iter().any(|(o, at, recorded_at)| {
                    o.is_success() && *recorded_at <= now && *at <= now && *at <= deadline
                })
            });
            e.add(ex.kind, w.segment, success);
        }
        Ok(e)
    }

    /// Every `recommendation_generated` event, oldest first.
    pub fn recommendations(&self) -> Result<Vec<Recommendation>> {
        let mut st = self.conn().prepare(
            "SELECT move_key, at, payload FROM telemetry
             WHERE event = 'recommendation_generated' AND move_key IS NOT NULL ORDER BY at, id",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (move_key, at, payload) = row?;
            out.push(Recommendation {
                move_key,
                at: parse_ts(&at),
                payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
            });
        }
        Ok(out)
    }
}

impl Store {
    /// The backtest's history: every recorded recommendation, with whether the operator
    /// executed it (a `done` decision still in force) and the outcomes recorded for it.
    pub fn backtest_history(&self) -> Result<Vec<crate::domain::backtest::Recommended>> {
        let executed: HashSet<String> = self.executions()?.into_iter().map(|e| e.move_key).collect();
        let outcomes = self.outcome_rows()?;
        Ok(self
            .recommendations()?
            .into_iter()
            .map(|r| crate::domain::backtest::Recommended {
                executed: executed.contains(&r.move_key),
                outcomes: outcomes
                    .get(&r.move_key)
                    .map(|rows| rows.iter().map(|(o, at, _)| (*o, *at)).collect())
                    .unwrap_or_default(),
                move_key: r.move_key,
                at: r.at,
                payload: r.payload,
            })
            .collect())
    }
}
