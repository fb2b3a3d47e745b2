//! Outcomes of executed moves: what is watched, what was recorded, and the evidence learning
//! and the backtest read.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{Result, Store, parse_ts, ts};
use crate::domain::learn::{Evidence, Segment};
use crate::domain::outcomes::{Execution, Outcome, OutcomePass, Watch, kind_of_key};

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

    /// Stores one outcome pass in a transaction: the new watches, the new outcomes, and an
    /// `outcome_recorded` telemetry event for each. Returns how many outcomes were recorded.
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
        }
        tx.commit()?;
        Ok(recorded)
    }

    /// Finished trials for learning: every watched execution whose outcome is known (a success,
    /// or `no_outcome`), in its type and segment. Executions still inside their window with
    /// nothing yet are not counted.
    pub fn learning_evidence(&self) -> Result<Evidence> {
        let mut st = self.conn().prepare(
            "SELECT w.kind, w.lifecycle, w.industry, w.size_band,
                    EXISTS (SELECT 1 FROM outcomes o WHERE o.move_key = w.move_key AND o.outcome <> 'no_outcome'),
                    EXISTS (SELECT 1 FROM outcomes o WHERE o.move_key = w.move_key)
             FROM outcome_watch w ORDER BY w.move_key",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Segment {
                    lifecycle: r.get(1)?,
                    industry: r.get(2)?,
                    size_band: r.get(3)?,
                },
                r.get::<_, bool>(4)?,
                r.get::<_, bool>(5)?,
            ))
        })?;
        let mut e = Evidence::new();
        for row in rows {
            let (kind, segment, success, finished) = row?;
            if let (Some(kind), true) = (crate::domain::MoveKind::parse(&kind), finished) {
                e.add(kind, segment, success);
            }
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

    /// The time of each move's earliest success outcome (anything but `no_outcome`).
    pub fn first_successes(&self) -> Result<HashMap<String, DateTime<Utc>>> {
        let mut st = self.conn().prepare(
            "SELECT move_key, min(coalesce(outcome_at, recorded_at)) FROM outcomes
             WHERE outcome <> 'no_outcome' GROUP BY move_key",
        )?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = HashMap::new();
        for row in rows {
            let (k, at) = row?;
            out.insert(k, parse_ts(&at));
        }
        Ok(out)
    }
}

impl Store {
    /// The backtest's history: every recorded recommendation, with whether the move later
    /// succeeded (a success outcome at or after it was generated).
    pub fn backtest_history(&self) -> Result<Vec<crate::domain::backtest::Recommended>> {
        let successes = self.first_successes()?;
        Ok(self
            .recommendations()?
            .into_iter()
            .map(|r| crate::domain::backtest::Recommended {
                succeeded: successes.get(&r.move_key).is_some_and(|t| *t >= r.at),
                move_key: r.move_key,
                at: r.at,
                payload: r.payload,
            })
            .collect())
    }
}
