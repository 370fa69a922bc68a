//! Time in a tenant's zone: business hours, local wall-clock windows turned into instants
//! without tripping over daylight-saving gaps and folds.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Timelike, Utc,
    Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::ParseError;

/// A tenant time zone, parsed once from its IANA name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantTz(pub Tz);

impl TenantTz {
    pub fn parse(name: &str) -> Result<Self, ParseError> {
        name.parse::<Tz>()
            .map(TenantTz)
            .map_err(|_| ParseError::new("invalid_timezone", format!("unknown time zone `{name}`")))
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// The instant of a local wall-clock time. In a spring-forward gap the time does not
    /// exist: take the first instant after the gap. In a fall-back fold take the earlier one.
    pub fn instant(&self, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        let naive = date.and_time(time);
        match self.0.from_local_datetime(&naive) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            LocalResult::Ambiguous(early, _) => early.with_timezone(&Utc),
            LocalResult::None => {
                // Gaps are at most a few hours; walk forward a minute at a time (bounded).
                let mut probe = naive;
                for _ in 0..(4 * 60) {
                    probe += Duration::minutes(1);
                    if let LocalResult::Single(t) | LocalResult::Ambiguous(t, _) =
                        self.0.from_local_datetime(&probe)
                    {
                        return t.with_timezone(&Utc);
                    }
                }
                Utc.from_utc_datetime(&naive)
            }
        }
    }

    pub fn local(&self, at: DateTime<Utc>) -> DateTime<Tz> {
        at.with_timezone(&self.0)
    }
}

impl TryFrom<String> for TenantTz {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TenantTz> for String {
    fn from(value: TenantTz) -> Self {
        value.0.name().to_string()
    }
}

/// Opening hours for one weekday, local time; `None` means closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayHours {
    pub open: NaiveTime,
    pub close: NaiveTime,
}

/// Business hours per weekday (Monday first), in the tenant's zone; the default is closed
/// every day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessHours {
    pub mon: Option<DayHours>,
    pub tue: Option<DayHours>,
    pub wed: Option<DayHours>,
    pub thu: Option<DayHours>,
    pub fri: Option<DayHours>,
    pub sat: Option<DayHours>,
    pub sun: Option<DayHours>,
}

impl BusinessHours {
    pub fn day(&self, wd: Weekday) -> Option<DayHours> {
        match wd {
            Weekday::Mon => self.mon,
            Weekday::Tue => self.tue,
            Weekday::Wed => self.wed,
            Weekday::Thu => self.thu,
            Weekday::Fri => self.fri,
            Weekday::Sat => self.sat,
            Weekday::Sun => self.sun,
        }
    }

    pub fn is_open(&self, tz: TenantTz, at: DateTime<Utc>) -> bool {
        let local = tz.local(at);
        self.day(local.weekday())
            .is_some_and(|h| local.time() >= h.open && local.time() < h.close)
    }

    /// The instant `minutes` of open business time after `from`: after hours the clock starts
    /// at the next opening. Bounded to two weeks of search (a tenant always open at least once
    /// a fortnight); returns `None` if the hours have no open day at all.
    pub fn add_business_minutes(
        &self,
        tz: TenantTz,
        from: DateTime<Utc>,
        minutes: i64,
    ) -> Option<DateTime<Utc>> {
        let mut remaining = minutes.max(0);
        let mut cursor = from;
        for _ in 0..15 {
            let local = tz.local(cursor);
            let date = local.date_naive();
            if let Some(h) = self.day(local.weekday()) {
                let open = tz.instant(date, h.open);
                let close = tz.instant(date, h.close);
                let start = cursor.max(open);
                if start < close {
                    let available = (close - start).num_minutes();
                    if remaining <= available {
                        return Some(start + Duration::minutes(remaining));
                    }
                    remaining -= available;
                }
            }
            let next = date.succ_opt()?;
            cursor = tz.instant(next, NaiveTime::MIN);
        }
        None
    }

    /// "Mon–Fri 8 AM–6 PM, Sat 9 AM–1 PM, Sun closed": consecutive days with the same
    /// hours are grouped.
    pub fn describe(&self) -> String {
        const NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        let days = [
            self.mon, self.tue, self.wed, self.thu, self.fri, self.sat, self.sun,
        ];
        let fmt_t = |t: NaiveTime| {
            let (h, m) = (t.hour(), t.minute());
            let (h12, ap) = match h {
                0 => (12, "AM"),
                1..=11 => (h, "AM"),
                12 => (12, "PM"),
                _ => (h - 12, "PM"),
            };
            if m == 0 {
                format!("{h12} {ap}")
            } else {
                format!("{h12}:{m:02} {ap}")
            }
        };
        let mut parts = Vec::new();
        let mut i = 0;
        while i < 7 {
            let mut j = i;
            while j + 1 < 7 && days[j + 1] == days[i] {
                j += 1;
            }
            let span = if i == j {
                NAMES[i].to_string()
            } else {
                format!("{}–{}", NAMES[i], NAMES[j])
            };
            parts.push(match days[i] {
                Some(h) => format!("{span} {}–{}", fmt_t(h.open), fmt_t(h.close)),
                None => format!("{span} closed"),
            });
            i = j + 1;
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours() -> BusinessHours {
        let h = |o: u32, c: u32| {
            Some(DayHours {
                open: NaiveTime::from_hms_opt(o, 0, 0).expect("valid"),
                close: NaiveTime::from_hms_opt(c, 0, 0).expect("valid"),
            })
        };
        BusinessHours {
            mon: h(8, 18),
            tue: h(8, 18),
            wed: h(8, 18),
            thu: h(8, 18),
            fri: h(8, 18),
            sat: h(9, 13),
            sun: None,
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("rfc3339")
            .with_timezone(&Utc)
    }

    #[test]
    fn spring_forward_gap_moves_to_first_valid_instant() {
        let tz = TenantTz::parse("America/Chicago").expect("tz");
        let d = NaiveDate::from_ymd_opt(2026, 3, 8).expect("date");
        let t = tz.instant(d, NaiveTime::from_hms_opt(2, 30, 0).expect("time"));
        assert_eq!(t, utc("2026-03-08T08:00:00Z")); // 03:00 CDT
    }

    #[test]
    fn fall_back_fold_takes_earlier_instant() {
        let tz = TenantTz::parse("America/Chicago").expect("tz");
        let d = NaiveDate::from_ymd_opt(2026, 11, 1).expect("date");
        let t = tz.instant(d, NaiveTime::from_hms_opt(1, 30, 0).expect("time"));
        assert_eq!(t, utc("2026-11-01T06:30:00Z")); // 01:30 CDT, not CST
    }

    #[test]
    fn business_minutes_skip_nights_and_sundays() {
        let tz = TenantTz::parse("America/Chicago").expect("tz");
        let h = hours();
        // Saturday 20:00 local → Monday 08:00 + 120 min = Monday 10:00 CST (16:00Z).
        let from = utc("2026-11-22T02:00:00Z");
        assert_eq!(
            h.add_business_minutes(tz, from, 120),
            Some(utc("2026-11-23T16:00:00Z"))
        );
        // Friday 17:00 local + 120 → 60 on Friday, 60 on Saturday from 09:00 = Sat 10:00.
        let from = utc("2026-11-20T23:00:00Z");
        assert_eq!(
            h.add_business_minutes(tz, from, 120),
            Some(utc("2026-11-21T16:00:00Z"))
        );
        assert!(h.is_open(tz, utc("2026-11-23T15:00:00Z")));
        assert_eq!(h.describe(), "Mon–Fri 8 AM–6 PM, Sat 9 AM–1 PM, Sun closed");
        assert!(!h.is_open(tz, utc("2026-11-23T05:00:00Z")));
    }
}
