//! What the operator did with CaseyOS and what came of it: the numbers behind `casey stats` and
//! the TUI's Stats view, computed from the local telemetry, the outcomes and the outbox.
//!
//! The window is the last `days` calendar days in UTC, today included: from midnight UTC of
//! the first day up to `now` (rows stamped after `now` are left out). Definitions:
//!
//! - **Per day** (`daily`, `totals`): telemetry events counted per UTC day —
//!   `generated` = `recommendation_generated` (a move seen for the first time), `accepted` =
//!   `recommendation_accepted` (`a`), `skipped` = `recommendation_dismissed` (`s`), `snoozed` =
//!   `recommendation_snoozed` (`z`), `executed` = `action_executed` (a move marked done by `x`
//!   or `y`, simulated ones in the demo included). `undone` (`u`) is in the totals only; an
//!   undone decision still counts where it was made.
//! - **Acceptance rate**: distinct moves accepted or executed ÷ distinct moves accepted,
//!   executed or skipped in the window (snoozing is not a verdict). `None` when nothing was
//!   decided.
//! - **Funnel** (distinct moves per stage; each stage counted on its own, and `rate` is the
//!   stage's count ÷ the previous stage's):
//!   1. `draft`: moves whose draft the operator approved (`y`): an outbox entry
//!      `gmail.draft.create`, `gmail.draft.push` or `gmail.draft.send`, created in the window
//!      and not cancelled.
//!   2. `sent`: moves with a `gmail.draft.send` entry that is `done` (done in the window). In
//!      draft-only mode the operator sends from Gmail, so this stays 0 and later stages can be
//!      larger than it.
//!   3. `reply`: moves with a `reply_received` outcome recorded in the window.
//!   4. `meeting`: moves with a `meeting_booked` outcome.
//!   5. `deal_advanced`: moves with a `deal_advanced` or `deal_won` outcome.
//! - **Outcomes**: outcome rows recorded in the window, by name (all six names always listed).
//! - **APS distribution**: the `aps` of `recommendation_generated` events in 10-point buckets
//!   `0-9`, `10-19`, …, `80-89`, `90-100` (100 falls in the last one).
//! - **Integrations**, per connector (`hubspot`, `gmail`, then any other seen): `calls` =
//!   `integration_latency` rows (one per request attempt), `errors` = `integration_error` rows,
//!   `error_rate` = errors ÷ calls; `p50_ms` / `p95_ms` = nearest-rank percentiles of the
//!   calls' milliseconds (the value at position ⌈p × n⌉ of the sorted list), failed attempts
//!   included; `last_success` = the later of the latest error-free call ever recorded and the
//!   latest successful sync ([`Store::last_sync`]), not limited to the window.

use std::collections::BTreeMap;

/// An outcome counts while the execution it follows stands: a `done` decision on its move that
/// `u` has not taken back.
const IN_FORCE: &str = "EXISTS (SELECT 1 FROM decisions d WHERE d.move_key = outcomes.move_key
                          AND d.state = 'done' AND d.undone_at IS NULL)";

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rusqlite::params;
use serde::Serialize;

use crate::store::{Store, StoreError, parse_ts_opt, ts};
use crate::telemetry as ev;

/// Days covered when none is asked for.
pub const DEFAULT_DAYS: u32 = 14;
/// The longest window accepted (a year and a day).
pub const MAX_DAYS: u32 = 366;

/// The outcome names counted, in funnel order.
pub const OUTCOMES: [&str; 6] = [
    "reply_received",
    "meeting_booked",
    "deal_advanced",
    "deal_won",
    "deal_lost",
    "no_outcome",
];

/// Connectors always listed, even without calls.
pub const CONNECTORS: [&str; 2] = ["hubspot", "gmail"];

/// Everything `casey stats` and the Stats view show. Field names are the stable JSON
/// interface of `casey stats --json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// The instant the numbers were computed for.
    pub now: DateTime<Utc>,
    /// Days covered (today included).
    pub days: u32,
    /// Start of the window: midnight UTC of its first day.
    pub since: DateTime<Utc>,
    /// One entry per day, oldest first (`days` entries).
    pub daily: Vec<Day>,
    /// The per-day counts summed over the window.
    pub totals: Totals,
    /// Moves decided in the window: accepted or executed.
    pub decided_taken: u64,
    /// Moves decided in the window: accepted, executed or skipped.
    pub decided: u64,
    /// `decided_taken / decided`; `None` when nothing was decided.
    pub acceptance_rate: Option<f64>,
    /// draft → sent → reply → meeting → deal_advanced.
    pub funnel: Vec<Stage>,
    /// Outcome rows in the window, by name.
    pub outcomes: Vec<OutcomeCount>,
    /// Ten APS buckets of newly generated moves.
    pub aps: Vec<Bucket>,
    /// Health of each connector.
    pub integrations: Vec<Connector>,
}

/// One day's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Day {
    /// The UTC date.
    pub date: NaiveDate,
    /// Moves seen for the first time.
    pub generated: u64,
    /// Moves accepted.
    pub accepted: u64,
    /// Moves skipped.
    pub skipped: u64,
    /// Moves snoozed.
    pub snoozed: u64,
    /// Moves executed.
    pub executed: u64,
}

impl Day {
    /// Decisions the operator made that day (accepted, skipped, snoozed, executed).
    pub fn activity(&self) -> u64 {
        self.accepted + self.skipped + self.snoozed + self.executed
    }
}

/// Window totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Moves seen for the first time.
    pub generated: u64,
    /// Moves accepted.
    pub accepted: u64,
    /// Moves skipped.
    pub skipped: u64,
    /// Moves snoozed.
    pub snoozed: u64,
    /// Moves executed.
    pub executed: u64,
    /// Decisions taken back with `u`.
    pub undone: u64,
}

/// One funnel stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stage {
    /// `draft`, `sent`, `reply`, `meeting` or `deal_advanced`.
    pub stage: String,
    /// Distinct moves that reached it in the window.
    pub moves: u64,
    /// `moves` ÷ the previous stage's; `None` for the first stage or after an empty one.
    pub rate: Option<f64>,
}

/// How many outcomes of one kind were recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OutcomeCount {
    /// The outcome name.
    pub outcome: String,
    /// Rows recorded in the window.
    pub count: u64,
}

/// One APS bucket: scores from `from` to `to`, both included (`90-100` for the last).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// Lowest score in the bucket.
    pub from: u8,
    /// Highest score in the bucket (whole points).
    pub to: u8,
    /// Moves generated with a score in it.
    pub count: u64,
}

impl Bucket {
    /// `0-9`, …, `90-100`.
    pub fn label(&self) -> String {
        format!("{}-{}", self.from, self.to)
    }
}

/// One connector's health in the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Connector {
    /// `hubspot`, `gmail`, …
    pub connector: String,
    /// Request attempts.
    pub calls: u64,
    /// Failed attempts.
    pub errors: u64,
    /// `errors / calls`; `None` without calls.
    pub error_rate: Option<f64>,
    /// Median latency in milliseconds.
    pub p50_ms: Option<u64>,
    /// 95th percentile latency in milliseconds.
    pub p95_ms: Option<u64>,
    /// Latest successful call or sync, ever.
    pub last_success: Option<DateTime<Utc>>,
}

/// Nearest-rank percentile (`p` in percent) of sorted values: the value at position ⌈p·n/100⌉.
pub fn percentile(sorted: &[u64], p: u32) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = (p as usize * n).div_ceil(100).clamp(1, n);
    sorted.get(rank - 1).copied()
}

/// A rate as a whole percentage (`71%`), or `–` when there is none.
pub fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "–".to_string(), |r| format!("{:.0}%", r * 100.0))
}

/// A latency in milliseconds (`85 ms`), or `–`.
pub fn millis(ms: Option<u64>) -> String {
    ms.map_or_else(|| "–".to_string(), |m| format!("{m} ms"))
}

/// `part / whole`, `None` when `whole` is 0.
fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

impl Stats {
    /// Computes the stats of the last `days` days (clamped to 1..=[`MAX_DAYS`]) at `now`.
    pub fn compute(store: &Store, now: DateTime<Utc>, days: u32) -> Result<Stats, StoreError> {
        let days = days.clamp(1, MAX_DAYS);
        let first = now.date_naive() - Duration::days(i64::from(days) - 1);
        let since = first.and_time(chrono::NaiveTime::MIN).and_utc();
        let (from, to) = (ts(since), ts(now));
        let mut stats = Stats {
            now,
            days,
            since,
            daily: first
                .iter_days()
                .take(days as usize)
                .map(|date| Day {
                    date,
                    ..Day::default()
                })
                .collect(),
            ..Stats::default()
        };
        stats.moves(store, &from, &to)?;
        stats.funnel(store, &from, &to)?;
        stats.integrations(store, &from, &to)?;
        Ok(stats)
    }

    /// Per-day counts, totals, acceptance and the APS histogram, counted in SQL (a big mirror
    /// records tens of thousands of first sightings; none is read into memory).
    fn moves(&mut self, store: &Store, from: &str, to: &str) -> Result<(), StoreError> {
        let conn = store.conn();
        let events = params![
            from,
            to,
            ev::RECOMMENDATION_GENERATED,
            ev::RECOMMENDATION_ACCEPTED,
            ev::RECOMMENDATION_DISMISSED,
            ev::RECOMMENDATION_SNOOZED,
            ev::ACTION_EXECUTED
        ];
        // Times are stored as UTC RFC 3339 text: the first ten characters are the UTC day.
        let mut st = conn.prepare_cached(
            "SELECT event, substr(at, 1, 10), count(*) FROM telemetry
             WHERE at >= ?1 AND at <= ?2 AND event IN (?3, ?4, ?5, ?6, ?7, 'recommendation_undone')
             GROUP BY event, substr(at, 1, 10)",
        )?;
        let rows = st.query_map(events, |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let first = self.daily.first().map(|d| d.date).unwrap_or_default();
        for row in rows {
            let (event, date, n) = row?;
            let n = n.max(0) as u64;
            let index = chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d").map(|d| (d - first).num_days());
            let day = index
                .ok()
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| self.daily.get_mut(i));
            let Some(day) = day else { continue };
            let (per_day, total) = match event.as_str() {
                ev::RECOMMENDATION_GENERATED => (&mut day.generated, &mut self.totals.generated),
                ev::RECOMMENDATION_ACCEPTED => (&mut day.accepted, &mut self.totals.accepted),
                ev::RECOMMENDATION_DISMISSED => (&mut day.skipped, &mut self.totals.skipped),
                ev::RECOMMENDATION_SNOOZED => (&mut day.snoozed, &mut self.totals.snoozed),
                ev::ACTION_EXECUTED => (&mut day.executed, &mut self.totals.executed),
                _ => {
                    self.totals.undone += n;
                    continue;
                }
            };
            *per_day += n;
            *total += n;
        }
        // The APS of each first sighting, in tens (a score of 0 or less is the first bucket):
        // from its column, or from the payload of an event written without it.
        let mut buckets = [0u64; 10];
        // Two reads, so the first is served by the index alone.
        for sql in [
            "SELECT min(9, max(0, CAST(aps / 10 AS INTEGER))), count(*) FROM telemetry
             WHERE at >= ?1 AND at <= ?2 AND event = ?3 AND aps IS NOT NULL
             GROUP BY 1",
            "SELECT min(9, max(0, CAST(json_extract(payload, '$.aps') / 10 AS INTEGER))), count(*)
             FROM telemetry
             WHERE at >= ?1 AND at <= ?2 AND event = ?3 AND aps IS NULL
               AND json_type(payload, '$.aps') IN ('integer', 'real')
             GROUP BY 1",
        ] {
            let mut st = conn.prepare_cached(sql)?;
            let rows = st.query_map(params![from, to, ev::RECOMMENDATION_GENERATED], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })?;
            for row in rows {
                let (bucket, n) = row?;
                buckets[bucket.clamp(0, 9) as usize] += n.max(0) as u64;
            }
        }
        let distinct = |events: &str| -> Result<u64, StoreError> {
            let n: i64 = conn.query_row(
                &format!(
                    "SELECT count(DISTINCT coalesce(move_key, '')) FROM telemetry
                     WHERE at >= ?1 AND at <= ?2 AND event IN ({events})"
                ),
                params![from, to],
                |r| r.get(0),
            )?;
            Ok(n.max(0) as u64)
        };
        let (accepted, dismissed, executed) = (
            ev::RECOMMENDATION_ACCEPTED,
            ev::RECOMMENDATION_DISMISSED,
            ev::ACTION_EXECUTED,
        );
        self.decided_taken = distinct(&format!("'{accepted}', '{executed}'"))?;
        self.decided = distinct(&format!("'{accepted}', '{executed}', '{dismissed}'"))?;
        self.acceptance_rate = ratio(self.decided_taken, self.decided);
        self.aps = buckets
            .iter()
            .enumerate()
            .map(|(i, &count)| Bucket {
                from: (i * 10) as u8,
                to: if i == 9 { 100 } else { (i * 10 + 9) as u8 },
                count,
            })
            .collect();
        Ok(())
    }

    /// The funnel and the outcome counts.
    fn funnel(&mut self, store: &Store, from: &str, to: &str) -> Result<(), StoreError> {
        let conn = store.conn();
        let count = |sql: &str| -> Result<u64, StoreError> {
            let n: i64 = conn.query_row(sql, params![from, to], |r| r.get(0))?;
            Ok(n.max(0) as u64)
        };
        let drafts = count(
            "SELECT count(DISTINCT COALESCE(move_key, idempotency_key)) FROM outbox
             WHERE action IN ('gmail.draft.create', 'gmail.draft.push', 'gmail.draft.send')
               AND state != 'cancelled' AND created_at >= ?1 AND created_at <= ?2",
        )?;
        let sent = count(
            "SELECT count(DISTINCT COALESCE(move_key, idempotency_key)) FROM outbox
             WHERE action = 'gmail.draft.send' AND state = 'done'
               AND COALESCE(done_at, updated_at) >= ?1 AND COALESCE(done_at, updated_at) <= ?2",
        )?;
        let outcome = |names: &str| {
            count(&format!(
                "SELECT count(DISTINCT move_key) FROM outcomes
                 WHERE outcome IN ({names}) AND recorded_at >= ?1 AND recorded_at <= ?2 AND {IN_FORCE}"
            ))
        };
        let stages = [
            ("draft", drafts),
            ("sent", sent),
            ("reply", outcome("'reply_received'")?),
            ("meeting", outcome("'meeting_booked'")?),
            ("deal_advanced", outcome("'deal_advanced', 'deal_won'")?),
        ];
        let mut previous: Option<u64> = None;
        self.funnel = stages
            .iter()
            .map(|&(stage, moves)| {
                let rate = previous.and_then(|p| ratio(moves, p));
                previous = Some(moves);
                Stage {
                    stage: stage.to_string(),
                    moves,
                    rate,
                }
            })
            .collect();
        let mut st = conn.prepare_cached(&format!(
            "SELECT outcome, count(*) FROM outcomes
                 WHERE recorded_at >= ?1 AND recorded_at <= ?2 AND {IN_FORCE} GROUP BY outcome"
        ))?;
        let found: BTreeMap<String, i64> = st
            .query_map(params![from, to], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        self.outcomes = OUTCOMES
            .iter()
            .map(|&name| OutcomeCount {
                outcome: name.to_string(),
                count: found.get(name).copied().unwrap_or(0).max(0) as u64,
            })
            .collect();
        Ok(())
    }

    /// Calls, errors, latency percentiles and the last success of each connector.
    fn integrations(&mut self, store: &Store, from: &str, to: &str) -> Result<(), StoreError> {
        let conn = store.conn();
        let mut st = conn.prepare_cached(
            "SELECT event, payload FROM telemetry
             WHERE at >= ?1 AND at <= ?2 AND event IN (?3, ?4)",
        )?;
        let rows = st.query_map(
            params![from, to, ev::INTEGRATION_LATENCY, ev::INTEGRATION_ERROR],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
        )?;
        // connector → (latencies, errors)
        let mut seen: BTreeMap<String, (Vec<u64>, u64)> = BTreeMap::new();
        for name in CONNECTORS {
            seen.insert(name.to_string(), (Vec::new(), 0));
        }
        for row in rows {
            let (event, payload) = row?;
            let payload: serde_json::Value = serde_json::from_str(&payload).unwrap_or_default();
            let connector = payload
                .get("connector")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("unknown");
            let entry = seen.entry(connector.to_string()).or_default();
            if event == ev::INTEGRATION_ERROR {
                entry.1 += 1;
            } else {
                entry
                    .0
                    .push(payload.get("ms").and_then(serde_json::Value::as_u64).unwrap_or(0));
            }
        }
        let mut last_ok = conn.prepare_cached(
            "SELECT max(at) FROM telemetry WHERE event = ?1
             AND json_extract(payload, '$.connector') = ?2
             AND json_extract(payload, '$.error') IS NULL",
        )?;
        let mut order: Vec<String> = CONNECTORS.iter().map(|c| c.to_string()).collect();
        order.extend(seen.keys().filter(|k| !CONNECTORS.contains(&k.as_str())).cloned());
        let mut out = Vec::new();
        for name in order {
            let (mut ms, errors) = seen.remove(&name).unwrap_or_default();
            ms.sort_unstable();
            let call_ok =
                parse_ts_opt(last_ok.query_row(params![ev::INTEGRATION_LATENCY, name], |r| r.get(0))?);
            let sync_ok = store.last_sync(&name)?.and_then(|s| s.succeeded_at);
            let calls = ms.len() as u64;
            out.push(Connector {
                error_rate: ratio(errors, calls),
                p50_ms: percentile(&ms, 50),
                p95_ms: percentile(&ms, 95),
                last_success: call_ok.max(sync_ok),
                connector: name,
                calls,
                errors,
            });
        }
        self.integrations = out;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 95), Some(7));
        assert_eq!(percentile(&[10, 20, 30, 40], 50), Some(20));
        assert_eq!(percentile(&[10, 20, 30, 40], 95), Some(40));
        let hundred: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&hundred, 50), Some(50));
        assert_eq!(percentile(&hundred, 95), Some(95));
    }

    #[test]
    fn scores_fall_in_ten_point_buckets_and_100_in_the_last() {
        let store = Store::open_in_memory().unwrap();
        let now = DateTime::parse_from_rfc3339("2026-11-20T15:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let scores = [
            json!(0.0),
            json!(9.99),
            json!(10),
            json!(89.9),
            json!(90.0),
            json!(100),
            json!(-3.0),
            json!("high"),
        ];
        for (i, aps) in scores.iter().enumerate() {
            let payload = json!({ "aps": aps });
            let key = format!("k{i}");
            store
                .telemetry(ev::RECOMMENDATION_GENERATED, Some(&key), &payload, now)
                .unwrap();
        }
        let s = Stats::compute(&store, now, 1).unwrap();
        let counts: Vec<u64> = s.aps.iter().map(|b| b.count).collect();
        // 0, 9.99 and -3 in the first; a score that is not a number in none.
        assert_eq!(counts, [3, 1, 0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(s.totals.generated, 8);
    }

    #[test]
    fn an_empty_mirror_has_a_full_window_of_zeros() {
        let store = Store::open_in_memory().unwrap();
        let now = "2026-11-20T15:00:00Z".parse().unwrap();
        let s = Stats::compute(&store, now, 0).unwrap();
        assert_eq!(s.days, 1, "at least one day");
        let s = Stats::compute(&store, now, 7).unwrap();
        assert_eq!(s.daily.len(), 7);
        assert_eq!(s.daily[0].date.to_string(), "2026-11-14");
        assert_eq!(s.since.to_rfc3339(), "2026-11-14T00:00:00+00:00");
        assert_eq!(s.acceptance_rate, None);
        assert_eq!(s.aps.len(), 10);
        assert_eq!(s.aps[9].label(), "90-100");
        assert_eq!(s.funnel.len(), 5);
        assert!(s.funnel.iter().all(|f| f.moves == 0 && f.rate.is_none()));
        let names: Vec<&str> = s.integrations.iter().map(|c| c.connector.as_str()).collect();
        assert_eq!(names, ["hubspot", "gmail"]);
    }
}
