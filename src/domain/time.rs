//! Calendar helpers: business days and human ages. All take an explicit `now`.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};

/// Business days (Mon–Fri) from `from` to `to`, counting whole days; 0 when `to <= from`.
pub fn business_days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    if to <= from {
        return 0;
    }
    let whole_days = (to - from).num_days();
    let start: NaiveDate = from.date_naive();
    let mut count = 0;
    for i in 1..=whole_days {
        let d = start + Duration::days(i);
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            count += 1;
        }
    }
    count
}

/// Fractional hours from `from` to `to` (negative when `to` is earlier).
pub fn hours_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_seconds() as f64 / 3600.0
}

/// A compact age for lists: `45m`, `5h`, `3d`, `6w`, `8mo`.
pub fn short_age(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - then).num_seconds();
    if secs < 0 {
        return format!("in {}", short_span(-secs));
    }
    short_span(secs)
}

fn short_span(secs: i64) -> String {
    let mins = secs / 60;
    if mins < 60 {
        format!("{}m", mins.max(0))
    } else if mins < 60 * 24 {
        format!("{}h", mins / 60)
    } else if mins < 60 * 24 * 14 {
        format!("{}d", mins / (60 * 24))
    } else if mins < 60 * 24 * 60 {
        format!("{}w", mins / (60 * 24 * 7))
    } else {
        format!("{}mo", mins / (60 * 24 * 30))
    }
}

/// Parses the timestamps HubSpot and Gmail send: RFC 3339 (`2026-11-18T10:04:05.123Z`),
/// a bare date (`2026-11-18`) or milliseconds since the epoch (`"1763460245123"`).
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let ms: i64 = s.parse().ok()?;
        return DateTime::from_timestamp_millis(ms);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|n| n.and_utc());
    }
    DateTime::parse_from_rfc2822(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Compact age from a number of hours (`45m`, `5h`, `3d`...).
pub fn short_age_hours(hours: f64) -> String {
    short_span((hours.max(0.0) * 3600.0) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        parse_timestamp(s).unwrap()
    }

    #[test]
    fn business_days_skip_weekends() {
        // Fri 2026-11-13 → Fri 2026-11-20 is five business days.
        assert_eq!(
            business_days_between(at("2026-11-13T10:00:00Z"), at("2026-11-20T10:00:00Z")),
            5
        );
        // Fri → Mon is one.
        assert_eq!(
            business_days_between(at("2026-11-13T10:00:00Z"), at("2026-11-16T10:00:00Z")),
            1
        );
        assert_eq!(
            business_days_between(at("2026-11-20T10:00:00Z"), at("2026-11-13T10:00:00Z")),
            0
        );
    }

    #[test]
    fn parses_all_vendor_formats() {
        assert_eq!(at("1763460245123"), at("2025-11-18T10:04:05.123Z"));
        assert_eq!(at("2026-11-18"), at("2026-11-18T00:00:00Z"));
        assert_eq!(at("Thu, 19 Nov 2026 09:12:00 +0000"), at("2026-11-19T09:12:00Z"));
        assert!(parse_timestamp("soon").is_none());
    }

    #[test]
    fn ages_are_compact() {
        let now = at("2026-11-20T15:00:00Z");
        assert_eq!(short_age(at("2026-11-20T14:15:00Z"), now), "45m");
        assert_eq!(short_age(at("2026-11-20T10:00:00Z"), now), "5h");
        assert_eq!(short_age(at("2026-11-17T10:00:00Z"), now), "3d");
        assert_eq!(short_age(at("2026-10-01T10:00:00Z"), now), "7w");
        assert_eq!(short_age(at("2026-11-22T15:00:00Z"), now), "in 2d");
    }
}
