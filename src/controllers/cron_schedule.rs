//! Cron schedules as upstream's CronJob controller reads and steps them (robfig/cron v3 `ParseStandard` and
//! `Schedule.Next`): five fields (minute, hour, day of month, month, day of week) of numbers, names, `*`, `?`,
//! ranges, steps and lists; the descriptors `@yearly`/`@annually`, `@monthly`, `@weekly`, `@daily`/`@midnight`,
//! `@hourly` and `@every <Go duration>`; an optional `TZ=`/`CRON_TZ=` prefix. `next` walks the wall clock of
//! the schedule's time zone field by field exactly as robfig does, including its behaviour around daylight
//! saving changes (a time skipped by spring-forward does not fire that day; a time repeated by fall-back fires
//! twice) and Go's `time.Date` rules for wall times that do not exist or exist twice. Error texts are the
//! parser's, since upstream shows them in the `UnparseableSchedule` event.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp};

/// Set in a field's bits when the field was `*` or `?` (with step 1); day matching depends on it.
const STAR_BIT: u64 = 1 << 63;

/// robfig gives up looking for a matching time this many years after the start.
const SEARCH_YEARS: i16 = 5;

/// A hard stop for the field walk, far above what any schedule needs within the five-year search, so that
/// no time zone oddity can make it spin.
const MAX_WALK_STEPS: u32 = 200_000;

/// One parsed schedule.
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    /// A calendar schedule: fires at wall-clock times in its zone.
    Calendar(CalendarSchedule),
    /// `@every <duration>`: fires a fixed number of whole seconds after the time it is asked about.
    Every { delay_seconds: i64 },
}

/// Bit sets of the allowed values of each field (bit n = value n), in a time zone.
#[derive(Clone, Debug, PartialEq)]
pub struct CalendarSchedule {
    second: u64,
    minute: u64,
    hour: u64,
    day_of_month: u64,
    month: u64,
    day_of_week: u64,
    time_zone: TimeZone,
}

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [(&'static str, u32)],
}

const MINUTES: Bounds = Bounds { min: 0, max: 59, names: &[] };
const HOURS: Bounds = Bounds { min: 0, max: 23, names: &[] };
const DAYS_OF_MONTH: Bounds = Bounds { min: 1, max: 31, names: &[] };
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
const DAYS_OF_WEEK: Bounds =
    Bounds { min: 0, max: 6, names: &[("sun", 0), ("mon", 1), ("tue", 2), ("wed", 3), ("thu", 4), ("fri", 5), ("sat", 6)] };

/// Parses a schedule; `default_zone` applies unless the spec starts with `TZ=`/`CRON_TZ=`.
pub fn parse_standard(spec: &str, default_zone: &TimeZone) -> Result<Schedule, String> {
    if spec.is_empty() {
        return Err("empty spec string".to_string());
    }
    let (spec, time_zone) = match spec.strip_prefix("TZ=").or_else(|| spec.strip_prefix("CRON_TZ=")) {
        Some(rest) => {
            let (zone, remainder) = rest.split_once(' ').unwrap_or((rest, ""));
            let time_zone = load_time_zone(zone).map_err(|error| format!("provided bad location {zone}: {error}"))?;
            (remainder.trim(), time_zone)
        }
        None => (spec, default_zone.clone()),
    };
    if spec.starts_with('@') {
        return parse_descriptor(spec, time_zone);
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!("expected exactly 5 fields, found {}: [{}]", fields.len(), fields.join(" ")));
    }
    Ok(Schedule::Calendar(CalendarSchedule {
        second: 1,
        minute: parse_field(fields[0], &MINUTES)?,
        hour: parse_field(fields[1], &HOURS)?,
        day_of_month: parse_field(fields[2], &DAYS_OF_MONTH)?,
        month: parse_field(fields[3], &MONTHS)?,
        day_of_week: parse_field(fields[4], &DAYS_OF_WEEK)?,
        time_zone,
    }))
}

/// Go's `time.LoadLocation`: the empty name and `UTC` are UTC; `Local` is the controller's own zone, which
/// here is UTC as it is in a kube-controller-manager container.
pub fn load_time_zone(name: &str) -> Result<TimeZone, String> {
    match name {
        "" | "UTC" | "Local" => Ok(TimeZone::UTC),
        _ => TimeZone::get(name).map_err(|_| format!("unknown time zone {name}")),
    }
}

fn parse_descriptor(descriptor: &str, time_zone: TimeZone) -> Result<Schedule, String> {
    let all = |bounds: &Bounds| bits(bounds.min, bounds.max, 1) | STAR_BIT;
    let schedule = |minute, hour, day_of_month, month, day_of_week| {
        Schedule::Calendar(CalendarSchedule { second: 1, minute, hour, day_of_month, month, day_of_week, time_zone: time_zone.clone() })
    };
    match descriptor {
        "@yearly" | "@annually" => Ok(schedule(1, 1, 1 << 1, 1 << 1, all(&DAYS_OF_WEEK))),
        "@monthly" => Ok(schedule(1, 1, 1 << 1, all(&MONTHS), all(&DAYS_OF_WEEK))),
        "@weekly" => Ok(schedule(1, 1, all(&DAYS_OF_MONTH), all(&MONTHS), 1)),
        "@daily" | "@midnight" => Ok(schedule(1, 1, all(&DAYS_OF_MONTH), all(&MONTHS), all(&DAYS_OF_WEEK))),
        "@hourly" => Ok(schedule(1, all(&HOURS), all(&DAYS_OF_MONTH), all(&MONTHS), all(&DAYS_OF_WEEK))),
        _ => match descriptor.strip_prefix("@every ") {
            Some(duration) => {
                let nanoseconds = parse_go_duration(duration).map_err(|error| format!("failed to parse duration {descriptor}: {error}"))?;
                // robfig's `Every`: at least a second, whole seconds only.
                Ok(Schedule::Every { delay_seconds: (nanoseconds / 1_000_000_000).max(1) as i64 })
            }
            None => Err(format!("unrecognized descriptor: {descriptor}")),
        },
    }
}

/// A comma-separated list of ranges; empty list items are skipped as robfig's `FieldsFunc` skips them.
fn parse_field(field: &str, bounds: &Bounds) -> Result<u64, String> {
    field.split(',').filter(|range| !range.is_empty()).try_fold(0u64, |acc, range| parse_range(range, bounds).map(|bits| acc | bits))
}

/// `number | name | * | ?`, optionally `-end`, optionally `/step`.
fn parse_range(expression: &str, bounds: &Bounds) -> Result<u64, String> {
    let range_and_step: Vec<&str> = expression.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;
    let (start, mut end, mut extra) = if low_and_high[0] == "*" || low_and_high[0] == "?" {
        (bounds.min, bounds.max, STAR_BIT)
    } else {
        let start = parse_int_or_name(low_and_high[0], bounds)?;
        let end = match low_and_high.as_slice() {
            [_] => start,
            [_, high] => parse_int_or_name(high, bounds)?,
            _ => return Err(format!("too many hyphens: {expression}")),
        };
        (start, end, 0)
    };
    let step = match range_and_step.as_slice() {
        [_] => 1,
        [_, step] => {
            let step = parse_int(step)?;
            // `N/step` means `N-max/step`.
            if single {
                end = bounds.max;
            }
            if step > 1 {
                extra = 0;
            }
            step
        }
        _ => return Err(format!("too many slashes: {expression}")),
    };
    if start < bounds.min {
        return Err(format!("beginning of range ({start}) below minimum ({}): {expression}", bounds.min));
    }
    if end > bounds.max {
        return Err(format!("end of range ({end}) above maximum ({}): {expression}", bounds.max));
    }
    if start > end {
        return Err(format!("beginning of range ({start}) beyond end of range ({end}): {expression}"));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expression}"));
    }
    Ok(bits(start, end, step) | extra)
}

fn bits(start: u32, end: u32, step: u32) -> u64 {
    (start..=end).step_by(step as usize).fold(0, |acc, value| acc | (1 << value))
}

fn parse_int_or_name(text: &str, bounds: &Bounds) -> Result<u32, String> {
    let lower = text.to_lowercase();
    match bounds.names.iter().find(|(name, _)| *name == lower) {
        Some((_, value)) => Ok(*value),
        None => parse_int(text),
    }
}

/// Go's `strconv.Atoi` and robfig's messages around it. Numbers beyond the field maxima are reported by the
/// range checks, so anything above `u32` is clamped rather than wrapped.
fn parse_int(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(format!("failed to parse int from {text}: strconv.Atoi: parsing {text:?}: invalid syntax"));
    }
    let number: i64 =
        text.parse().map_err(|_| format!("failed to parse int from {text}: strconv.Atoi: parsing {text:?}: value out of range"))?;
    if number < 0 {
        return Err(format!("negative number ({number}) not allowed: {text}"));
    }
    Ok(u32::try_from(number).unwrap_or(u32::MAX))
}

/// Go's `time.ParseDuration` (`1h30m`, `1.5s`, `300ms`, `-2m`), in nanoseconds.
pub fn parse_go_duration(text: &str) -> Result<i128, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        if !rest.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        let whole_len = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let whole: u128 = if whole_len == 0 { 0 } else { rest[..whole_len].parse().map_err(|_| invalid())? };
        rest = &rest[whole_len..];
        let mut fraction = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let fraction_len = after_dot.find(|c: char| !c.is_ascii_digit()).unwrap_or(after_dot.len());
            fraction = &after_dot[..fraction_len];
            rest = &after_dot[fraction_len..];
            if whole_len == 0 && fraction.is_empty() {
                return Err(invalid());
            }
        } else if whole_len == 0 {
            return Err(invalid());
        }
        let unit_len = rest.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(rest.len());
        let unit_nanoseconds: u128 = match &rest[..unit_len] {
            "" => return Err(format!("time: missing unit in duration {text:?}")),
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            unit => return Err(format!("time: unknown unit {unit:?} in duration {text:?}")),
        };
        rest = &rest[unit_len..];
        let mut value = whole.checked_mul(unit_nanoseconds).ok_or_else(invalid)?;
        if !fraction.is_empty() {
            let fraction_value: f64 = format!("0.{fraction}").parse().map_err(|_| invalid())?;
            value += (fraction_value * unit_nanoseconds as f64) as u128;
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > 1 << 63 {
            return Err(invalid());
        }
    }
    if !negative && total > i64::MAX as u128 {
        return Err(invalid());
    }
    Ok(if negative { -(total as i128) } else { total as i128 })
}

impl Schedule {
    /// The first activation strictly after `after`, or `None` when a calendar schedule has none within five
    /// years (robfig's zero time, e.g. for February 30th).
    pub fn next(&self, after: Timestamp) -> Option<Timestamp> {
        match self {
            Schedule::Every { delay_seconds } => {
                let whole_second = Timestamp::from_second(after.as_second()).ok()?;
                whole_second.checked_add(SignedDuration::from_secs(*delay_seconds)).ok()
            }
            Schedule::Calendar(calendar) => calendar.next(after),
        }
    }
}

impl CalendarSchedule {
    fn next(&self, after: Timestamp) -> Option<Timestamp> {
        let zone = &self.time_zone;
        let mut t = Timestamp::from_second(after.as_second().checked_add(1)?).ok()?;
        let year_limit = self.civil(t).year().checked_add(SEARCH_YEARS)?;
        // Once a field has moved, lower fields restart from their minimum instead of the start time's value.
        let mut added = false;
        let mut steps = 0u32;
        let mut step = || {
            steps += 1;
            (steps <= MAX_WALK_STEPS).then_some(())
        };
        'wrap: loop {
            step()?;
            if self.civil(t).year() > year_limit {
                return None;
            }
            while !has_bit(self.month, self.civil(t).month() as u32) {
                step()?;
                let now = self.civil(t);
                if !added {
                    added = true;
                    t = go_date(zone, now.year(), now.month().into(), 1, 0, 0, 0)?;
                }
                t = add_date(zone, self.civil(t), 1, 0)?;
                if self.civil(t).month() == 1 {
                    continue 'wrap;
                }
            }
            while !self.day_matches(self.civil(t)) {
                step()?;
                let now = self.civil(t);
                if !added {
                    added = true;
                    t = go_date(zone, now.year(), now.month().into(), now.day().into(), 0, 0, 0)?;
                }
                t = add_date(zone, self.civil(t), 0, 1)?;
                // Midnight may not exist on a day-saving change; robfig nudges back to a whole day.
                let hour = i64::from(self.civil(t).hour());
                if hour != 0 {
                    let shift = if hour > 12 { 24 - hour } else { -hour };
                    t = t.checked_add(SignedDuration::from_hours(shift)).ok()?;
                }
                if self.civil(t).day() == 1 {
                    continue 'wrap;
                }
            }
            while !has_bit(self.hour, self.civil(t).hour() as u32) {
                step()?;
                let now = self.civil(t);
                if !added {
                    added = true;
                    t = go_date(zone, now.year(), now.month().into(), now.day().into(), now.hour(), 0, 0)?;
                }
                t = t.checked_add(SignedDuration::from_hours(1)).ok()?;
                if self.civil(t).hour() == 0 {
                    continue 'wrap;
                }
            }
            while !has_bit(self.minute, self.civil(t).minute() as u32) {
                step()?;
                if !added {
                    added = true;
                    t = Timestamp::from_second(t.as_second().div_euclid(60) * 60).ok()?;
                }
                t = t.checked_add(SignedDuration::from_mins(1)).ok()?;
                if self.civil(t).minute() == 0 {
                    continue 'wrap;
                }
            }
            while !has_bit(self.second, self.civil(t).second() as u32) {
                step()?;
                added = true;
                t = t.checked_add(SignedDuration::from_secs(1)).ok()?;
                if self.civil(t).second() == 0 {
                    continue 'wrap;
                }
            }
            return Some(t);
        }
    }

    fn civil(&self, t: Timestamp) -> DateTime {
        self.time_zone.to_datetime(t)
    }

    /// robfig's rule: when either day field is `*`, both must match; otherwise either may (as classic cron).
    fn day_matches(&self, t: DateTime) -> bool {
        let day_of_month = has_bit(self.day_of_month, t.day() as u32);
        let day_of_week = has_bit(self.day_of_week, t.weekday().to_sunday_zero_offset() as u32);
        if self.day_of_month & STAR_BIT != 0 || self.day_of_week & STAR_BIT != 0 {
            day_of_month && day_of_week
        } else {
            day_of_month || day_of_week
        }
    }
}

fn has_bit(set: u64, value: u32) -> bool {
    value < 64 && set & (1 << value) != 0
}

/// Go's `t.AddDate(0, months, days)`: the same wall clock `months`/`days` later, normalised by `go_date`.
fn add_date(zone: &TimeZone, wall: DateTime, months: i64, days: i64) -> Option<Timestamp> {
    let month = i64::from(wall.month()) + months;
    go_date(zone, wall.year(), month, i64::from(wall.day()) + days, wall.hour(), wall.minute(), wall.second())
}

/// Go's `time.Date(year, month, day, hour, minute, second, 0, zone)`: out-of-range months and days roll
/// over; a wall time that does not exist or exists twice takes the offset Go's lookup lands on — the
/// offset in force at the instant the wall time would be with the offset in force at the wall time read as
/// UTC. (So 02:30 on New York's spring-forward day is 01:30 EST, and 01:30 on its fall-back day is EDT.)
fn go_date(zone: &TimeZone, year: i16, month: i64, day: i64, hour: i8, minute: i8, second: i8) -> Option<Timestamp> {
    let months_since_year_zero = i64::from(year) * 12 + month - 1;
    let year = i16::try_from(months_since_year_zero.div_euclid(12)).ok()?;
    let month = i8::try_from(months_since_year_zero.rem_euclid(12) + 1).ok()?;
    let date = Date::new(year, month, 1).ok()?.checked_add(Span::new().try_days(day - 1).ok()?).ok()?;
    let wall_as_utc = date.at(hour, minute, second, 0).to_zoned(TimeZone::UTC).ok()?.timestamp();
    let first_guess = zone.to_offset(wall_as_utc);
    let instant = wall_as_utc.checked_sub(SignedDuration::from_secs(first_guess.seconds().into())).ok()?;
    let offset = zone.to_offset(instant);
    wall_as_utc.checked_sub(SignedDuration::from_secs(offset.seconds().into())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn utc(spec: &str) -> Schedule {
        parse_standard(spec, &TimeZone::UTC).unwrap()
    }

    fn next(spec: &str, after: &str) -> Option<String> {
        utc(spec).next(at(after)).map(|t| t.to_string())
    }

    #[test]
    fn fields_lists_ranges_steps_and_names() {
        assert_eq!(next("*/15 * * * *", "2024-01-01T00:07:00Z").as_deref(), Some("2024-01-01T00:15:00Z"));
        assert_eq!(next("5,10-12 * * * *", "2024-01-01T00:06:00Z").as_deref(), Some("2024-01-01T00:10:00Z"));
        assert_eq!(next("5,10-12 * * * *", "2024-01-01T00:12:00Z").as_deref(), Some("2024-01-01T01:05:00Z"));
        assert_eq!(next("30 9 * JAN-mar MON-fri", "2024-03-29T10:00:00Z").as_deref(), Some("2025-01-01T09:30:00Z"));
        assert_eq!(next("0 0 ? * sun", "2024-01-01T00:00:00Z").as_deref(), Some("2024-01-07T00:00:00Z"));
        assert_eq!(next("10/20 * * * *", "2024-01-01T00:31:00Z").as_deref(), Some("2024-01-01T00:50:00Z"));
        // The answer is strictly after the given time, even within the same second.
        assert_eq!(next("0 * * * *", "2024-01-01T01:00:00.5Z").as_deref(), Some("2024-01-01T02:00:00Z"));
    }

    #[test]
    fn day_of_month_and_day_of_week_combine_as_robfig_does() {
        // Neither is `*`: either matches (1st and 15th, or any Friday).
        assert_eq!(next("0 0 1,15 * 5", "2024-03-02T00:00:00Z").as_deref(), Some("2024-03-08T00:00:00Z"));
        assert_eq!(next("0 0 1,15 * 5", "2024-03-08T00:00:00Z").as_deref(), Some("2024-03-15T00:00:00Z"));
        // Day of week is `*`: only the 13th.
        assert_eq!(next("0 0 13 * *", "2024-03-02T00:00:00Z").as_deref(), Some("2024-03-13T00:00:00Z"));
        // `*/2` is not a star for this rule, so it ORs with the day of week: every odd day, or Mondays.
        assert_eq!(next("0 0 */2 * 1", "2024-03-01T00:00:00Z").as_deref(), Some("2024-03-03T00:00:00Z"));
        assert_eq!(next("0 0 */2 * 1", "2024-03-03T00:00:00Z").as_deref(), Some("2024-03-04T00:00:00Z"));
    }

    #[test]
    fn descriptors() {
        assert_eq!(next("@yearly", "2024-05-05T00:00:00Z").as_deref(), Some("2025-01-01T00:00:00Z"));
        assert_eq!(next("@annually", "2024-05-05T00:00:00Z").as_deref(), Some("2025-01-01T00:00:00Z"));
        assert_eq!(next("@monthly", "2024-05-05T00:00:00Z").as_deref(), Some("2024-06-01T00:00:00Z"));
        assert_eq!(next("@weekly", "2024-05-05T00:00:00Z").as_deref(), Some("2024-05-12T00:00:00Z"));
        assert_eq!(next("@daily", "2024-05-05T13:00:00Z").as_deref(), Some("2024-05-06T00:00:00Z"));
        assert_eq!(next("@midnight", "2024-05-05T13:00:00Z").as_deref(), Some("2024-05-06T00:00:00Z"));
        assert_eq!(next("@hourly", "2024-05-05T13:20:00Z").as_deref(), Some("2024-05-05T14:00:00Z"));
        assert_eq!(next("@every 1h30m", "2024-05-05T13:20:10.25Z").as_deref(), Some("2024-05-05T14:50:10Z"));
        assert_eq!(utc("@every 300ms"), Schedule::Every { delay_seconds: 1 });
    }

    #[test]
    fn impossible_dates_have_no_next_time() {
        assert_eq!(next("0 0 30 2 *", "2024-01-01T00:00:00Z"), None);
        assert_eq!(next("0 0 29 2 *", "2024-03-01T00:00:00Z").as_deref(), Some("2028-02-29T00:00:00Z"));
    }

    #[test]
    fn time_zone_and_daylight_saving() {
        let zone = TimeZone::get("America/New_York").unwrap();
        let daily = parse_standard("30 2 * * *", &zone).unwrap();
        // 2024-03-10 02:30 does not exist in New York: that day is skipped.
        assert_eq!(daily.next(at("2024-03-09T08:00:00Z")), Some(at("2024-03-11T06:30:00Z")));
        let before_fall_back = parse_standard("30 1 * * *", &zone).unwrap();
        // 2024-11-03 01:30 happens twice (EDT, then EST); robfig fires at both.
        let first = before_fall_back.next(at("2024-11-03T04:00:00Z")).unwrap();
        assert_eq!(first, at("2024-11-03T05:30:00Z"));
        assert_eq!(before_fall_back.next(first), Some(at("2024-11-03T06:30:00Z")));
        assert_eq!(before_fall_back.next(at("2024-11-03T06:30:00Z")), Some(at("2024-11-04T06:30:00Z")));
        // Hourly steps through the 23-hour day without stalling.
        let hourly = parse_standard("0 * * * *", &zone).unwrap();
        assert_eq!(hourly.next(at("2024-03-10T06:30:00Z")), Some(at("2024-03-10T07:00:00Z")));
        assert_eq!(hourly.next(at("2024-03-10T07:00:00Z")), Some(at("2024-03-10T08:00:00Z")));
        // A TZ prefix overrides the default zone.
        let tokyo = parse_standard("CRON_TZ=Asia/Tokyo 0 9 * * *", &TimeZone::UTC).unwrap();
        assert_eq!(tokyo.next(at("2024-01-01T00:00:00Z")), Some(at("2024-01-02T00:00:00Z")));
    }

    #[test]
    fn go_dates_resolve_gaps_and_folds_like_go() {
        let new_york = TimeZone::get("America/New_York").unwrap();
        assert_eq!(go_date(&new_york, 2024, 3, 10, 2, 30, 0), Some(at("2024-03-10T06:30:00Z")));
        assert_eq!(go_date(&new_york, 2024, 11, 3, 1, 30, 0), Some(at("2024-11-03T05:30:00Z")));
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        // East of UTC Go's lookup lands on the later (standard) offset of a repeated hour.
        assert_eq!(go_date(&berlin, 2024, 10, 27, 2, 30, 0), Some(at("2024-10-27T01:30:00Z")));
        assert_eq!(go_date(&TimeZone::UTC, 2024, 13, 32, 0, 0, 0), Some(at("2025-02-01T00:00:00Z")));
    }

    #[test]
    fn reports_the_parsers_errors() {
        let error = |spec: &str| parse_standard(spec, &TimeZone::UTC).unwrap_err();
        assert_eq!(error(""), "empty spec string");
        assert_eq!(error("* * * *"), "expected exactly 5 fields, found 4: [* * * *]");
        assert_eq!(error("60 * * * *"), "end of range (60) above maximum (59): 60");
        assert_eq!(error("* * 0 * *"), "beginning of range (0) below minimum (1): 0");
        assert_eq!(error("5-1 * * * *"), "beginning of range (5) beyond end of range (1): 5-1");
        assert_eq!(error("*/0 * * * *"), "step of range should be a positive number: */0");
        assert_eq!(error("1-2-3 * * * *"), "too many hyphens: 1-2-3");
        assert_eq!(error("*/2/3 * * * *"), "too many slashes: */2/3");
        assert_eq!(error("x * * * *"), "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax");
        assert_eq!(error("@often"), "unrecognized descriptor: @often");
        assert_eq!(error("@every 5"), "failed to parse duration @every 5: time: missing unit in duration \"5\"");
        assert_eq!(error("TZ=Mars/Olympus * * * * *"), "provided bad location Mars/Olympus: unknown time zone Mars/Olympus");
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_go_duration(".5ms"), Ok(500_000));
        assert_eq!(parse_go_duration("-2m"), Ok(-120_000_000_000));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("1d"), Err("time: unknown unit \"d\" in duration \"1d\"".to_string()));
        assert_eq!(parse_go_duration("."), Err("time: invalid duration \".\"".to_string()));
    }
}
