//! CronJob schedule syntax, checked as upstream's parser (robfig/cron v3 `ParseStandard`) checks it: five fields
//! (minute, hour, day of month, month, day of week) of numbers, names, `*`, `?`, ranges, steps and lists, or a
//! descriptor (`@hourly`, `@every 90s` …), optionally after `TZ=`/`CRON_TZ=`. Error texts are the parser's, since
//! upstream passes them through to the user.

/// The bounds and names of one schedule field.
struct Bounds {
    min: i64,
    max: i64,
    names: &'static [&'static str],
}

const MINUTES: Bounds = Bounds { min: 0, max: 59, names: &[] };
const HOURS: Bounds = Bounds { min: 0, max: 23, names: &[] };
const DAYS_OF_MONTH: Bounds = Bounds { min: 1, max: 31, names: &[] };
/// Month names count from 1.
const MONTHS: Bounds =
    Bounds { min: 1, max: 12, names: &["", "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"] };
const DAYS_OF_WEEK: Bounds = Bounds { min: 0, max: 6, names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"] };

const DESCRIPTORS: [&str; 7] = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"];

/// Checks a schedule; the error is the message upstream shows after `spec.schedule: Invalid value: "…": `.
pub fn parse_cron_schedule(spec: &str) -> Result<(), String> {
    if spec.is_empty() {
        return Err("empty spec string".to_string());
    }
    let spec = strip_time_zone(spec)?;
    if let Some(descriptor) = spec.strip_prefix('@') {
        return parse_descriptor(descriptor, spec);
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!("expected exactly 5 fields, found {}: [{}]", fields.len(), fields.join(" ")));
    }
    for (field, bounds) in fields.iter().zip([MINUTES, HOURS, DAYS_OF_MONTH, MONTHS, DAYS_OF_WEEK]) {
        for range in field.split(',').filter(|range| !range.is_empty()) {
            parse_range(range, &bounds)?;
        }
    }
    Ok(())
}

/// `TZ=Europe/Paris 0 * * * *` → `0 * * * *`, when the zone exists.
fn strip_time_zone(spec: &str) -> Result<&str, String> {
    if !spec.starts_with("TZ=") && !spec.starts_with("CRON_TZ=") {
        return Ok(spec);
    }
    let (zone_part, rest) = spec.split_once(' ').unwrap_or((spec, ""));
    let zone = zone_part.split_once('=').map_or("", |(_, zone)| zone);
    if jiff::tz::TimeZone::get(zone).is_err() {
        return Err(format!("provided bad location {zone}: unknown time zone {zone}"));
    }
    Ok(rest.trim())
}

fn parse_descriptor(descriptor: &str, spec: &str) -> Result<(), String> {
    if DESCRIPTORS.contains(&spec) {
        return Ok(());
    }
    match descriptor.strip_prefix("every ") {
        Some(duration) => parse_go_duration(duration).map_err(|error| format!("failed to parse duration {spec}: {error}")),
        None => Err(format!("unrecognized descriptor: {spec}")),
    }
}

/// One `number | name | * | ?` with optional `-end` and `/step`, within bounds.
fn parse_range(expression: &str, bounds: &Bounds) -> Result<(), String> {
    let (range, step) = match expression.split('/').collect::<Vec<_>>().as_slice() {
        [range] => (*range, None),
        [range, step] => (*range, Some(*step)),
        _ => return Err(format!("too many slashes: {expression}")),
    };
    let parts: Vec<&str> = range.split('-').collect();
    let (start, mut end) = if parts[0] == "*" || parts[0] == "?" {
        (bounds.min, bounds.max)
    } else {
        let start = parse_int_or_name(parts[0], bounds)?;
        match parts.as_slice() {
            [_] => (start, start),
            [_, end] => (start, parse_int_or_name(end, bounds)?),
            _ => return Err(format!("too many hyphens: {expression}")),
        }
    };
    let step = match step {
        Some(step) => {
            if parts.len() == 1 {
                end = bounds.max;
            }
            parse_int(step)?
        }
        None => 1,
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
    Ok(())
}

fn parse_int_or_name(text: &str, bounds: &Bounds) -> Result<i64, String> {
    let lower = text.to_lowercase();
    match bounds.names.iter().position(|name| !name.is_empty() && *name == lower) {
        Some(index) => Ok(index as i64),
        None => parse_int(text),
    }
}

/// Go's `strconv.Atoi` and the parser's messages around it.
fn parse_int(text: &str) -> Result<i64, String> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("failed to parse int from {text}: strconv.Atoi: parsing {text:?}: invalid syntax"));
    }
    let number: i64 =
        text.parse().map_err(|_| format!("failed to parse int from {text}: strconv.Atoi: parsing {text:?}: value out of range"))?;
    if number < 0 {
        return Err(format!("negative number ({number}) not allowed: {text}"));
    }
    Ok(number)
}

/// Go's `time.ParseDuration` grammar (`1h30m`, `1.5s`, `300ms`), for `@every`.
fn parse_go_duration(text: &str) -> Result<(), String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    if body == "0" {
        return Ok(());
    }
    if body.is_empty() {
        return Err(invalid());
    }
    let mut rest = body;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        match &rest[..unit_len] {
            "" => return Err(format!("time: missing unit in duration {text:?}")),
            "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h" => {}
            unit => return Err(format!("time: unknown unit {unit:?} in duration {text:?}")),
        }
        rest = &rest[unit_len..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_standard_schedules() {
        for spec in
            ["*/5 * * * *", "0 0 1 jan-jun MON-fri", "15,45 9-17 * * 1-5", "@hourly", "@every 1h30m", "0 0 ? * *", "TZ=UTC 0 * * * *"]
        {
            assert_eq!(parse_cron_schedule(spec), Ok(()), "{spec}");
        }
    }

    #[test]
    fn reports_the_parsers_errors() {
        assert_eq!(parse_cron_schedule("* * * *").unwrap_err(), "expected exactly 5 fields, found 4: [* * * *]");
        assert_eq!(parse_cron_schedule("60 * * * *").unwrap_err(), "end of range (60) above maximum (59): 60");
        assert_eq!(
            parse_cron_schedule("x * * * *").unwrap_err(),
            "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(parse_cron_schedule("5-1 * * * *").unwrap_err(), "beginning of range (5) beyond end of range (1): 5-1");
        assert_eq!(parse_cron_schedule("*/0 * * * *").unwrap_err(), "step of range should be a positive number: */0");
        assert_eq!(parse_cron_schedule("* * 0 * *").unwrap_err(), "beginning of range (0) below minimum (1): 0");
        assert_eq!(parse_cron_schedule("@often").unwrap_err(), "unrecognized descriptor: @often");
        assert_eq!(parse_cron_schedule("@every 5").unwrap_err(), "failed to parse duration @every 5: time: missing unit in duration \"5\"");
        assert_eq!(parse_cron_schedule("* * * * 7").unwrap_err(), "end of range (7) above maximum (6): 7");
    }
}
