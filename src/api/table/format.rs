//! Cell formatting shared by every printer: ages in upstream's human duration style, reading typed fields
//! out of `serde_json::Value` with the zero values a Go struct would have, label and selector rendering,
//! container lists, and the column definitions and descriptions most tables repeat.

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use crate::api::registry::Column;
use crate::api::selector::LabelSelector;

/// `metav1.ObjectMeta` swagger doc for `name`, the description of every Name column.
pub const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when \
    creating resources, although some resources may allow a client to request the generation of an \
    appropriate name automatically. Name is primarily intended for creation idempotence and \
    configuration definition. Cannot be updated. More info: \
    https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// `metav1.ObjectMeta` swagger doc for `creationTimestamp`, the description of every Age column.
pub const AGE_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time \
    when this object was created. It is not guaranteed to be set in happens-before order across \
    separate operations. Clients may not set this value. It is represented in RFC3339 form and is \
    in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: \
    https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

pub const CONTAINERS_DESCRIPTION: &str = "Names of each container in the template.";
pub const IMAGES_DESCRIPTION: &str = "Images referenced by each container in the template.";

/// A default-priority column with no format.
pub const fn column(name: &'static str, column_type: &'static str, description: &'static str) -> Column {
    Column { name, column_type, format: "", description, priority: 0 }
}

/// The same column shown only with `-o wide`.
pub const fn wide(mut column: Column) -> Column {
    column.priority = 1;
    column
}

/// The `Name` column every printer starts with.
pub const NAME_COLUMN: Column = Column { name: "Name", column_type: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 };

/// The `Age` column; upstream types it `string` because the cell is a rendered duration.
pub const AGE_COLUMN: Column = column("Age", "string", AGE_DESCRIPTION);

/// Go's `duration.HumanDuration`: about two significant units (`90s`, `5m30s`, `3h10m`, `4d2h`, `2y30d`).
/// Up to a second in the future still reads `0s`, to tolerate clock skew; further is `<invalid>`.
pub fn human_duration(duration: SignedDuration) -> String {
    // as_secs truncates toward zero, as Go's int(d.Seconds()) does.
    let seconds = duration.as_secs();
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return with_remainder(minutes, "m", seconds % 60, "s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        return with_remainder(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return with_remainder(hours / 24, "d", hours % 24, "h");
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        return with_remainder(hours / 24 / 365, "y", (hours / 24) % 365, "d");
    }
    format!("{}y", hours / 24 / 365)
}

/// `5m` when the smaller unit is zero, else `5m30s`.
fn with_remainder(major: i64, major_unit: &str, minor: i64, minor_unit: &str) -> String {
    if minor == 0 {
        format!("{major}{major_unit}")
    } else {
        format!("{major}{major_unit}{minor}{minor_unit}")
    }
}

/// A `metav1.Time`/`MicroTime` field; `None` for absent, null or unparsable, which upstream calls zero.
pub fn timestamp(value: Option<&Value>) -> Option<Timestamp> {
    value.and_then(Value::as_str).and_then(|s| s.parse().ok())
}

/// `translateTimestampSince`: the age of a timestamp, `<unknown>` when it is zero.
pub fn since(value: Option<&Value>, now: Timestamp) -> String {
    match timestamp(value) {
        Some(then) => human_duration(now.duration_since(then)),
        None => "<unknown>".to_string(),
    }
}

/// The Age cell: time since `metadata.creationTimestamp`.
pub fn age(obj: &Value, now: Timestamp) -> String {
    since(obj.pointer("/metadata/creationTimestamp"), now)
}

/// A string field, "" when absent, as a Go string's zero value.
pub fn text<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

/// An integer field, 0 when absent.
pub fn int(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or_default()
}

/// A list field, empty when absent.
pub fn list<'a>(obj: &'a Value, pointer: &str) -> &'a [Value] {
    obj.pointer(pointer).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

/// A map field's entry count, 0 when absent.
pub fn map_len(obj: &Value, pointer: &str) -> usize {
    obj.pointer(pointer).and_then(Value::as_object).map_or(0, |map| map.len())
}

/// `metadata.name`, the first cell of every row.
pub fn name(obj: &Value) -> Value {
    Value::from(text(obj, "/metadata/name"))
}

/// Whether the first condition of that type in a `conditions` list has status `True`, as upstream's
/// condition helpers judge it.
pub fn condition_is_true(conditions: &[Value], condition_type: &str) -> bool {
    conditions.iter().find(|c| text(c, "/type") == condition_type).is_some_and(|c| text(c, "/status") == "True")
}

/// Whether `metadata.deletionTimestamp` is set: the object is being deleted.
pub fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some_and(|d| !d.is_null())
}

/// `value`, or `<none>` when it is empty: upstream's placeholder for unset strings.
pub fn or_none(value: &str) -> String {
    if value.is_empty() {
        "<none>".to_string()
    } else {
        value.to_string()
    }
}

/// `labels.FormatLabels`: `k=v` pairs sorted as whole strings and joined by `,`; `<none>` when empty.
pub fn format_labels(labels: Option<&Value>) -> String {
    let mut pairs: Vec<String> = labels
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(key, value)| format!("{key}={}", value.as_str().unwrap_or_default()))
        .collect();
    pairs.sort();
    or_none(&pairs.join(","))
}

/// `metav1.FormatLabelSelector`: the canonical selector, `<none>` when it selects everything or nothing,
/// `<error>` when it does not convert.
pub fn format_label_selector(selector: Option<&Value>) -> String {
    match LabelSelector::from_label_selector_json(selector.unwrap_or(&Value::Null)) {
        Ok(selector) => or_none(&selector.to_string()),
        Err(_) => "<error>".to_string(),
    }
}

/// `layoutContainerCells`: container names and images, each joined by `,`.
pub fn container_cells(containers: &[Value]) -> (String, String) {
    let names: Vec<&str> = containers.iter().map(|c| text(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| text(c, "/image")).collect();
    (names.join(","), images.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secs(n: i64) -> String {
        human_duration(SignedDuration::from_secs(n))
    }

    #[test]
    fn human_duration_boundaries_match_upstream() {
        let minute = 60;
        let hour = 60 * minute;
        let day = 24 * hour;
        let year = 365 * day;
        let cases = [
            (-2, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (59, "59s"),
            (119, "119s"),
            (2 * minute, "2m"),
            (2 * minute + 30, "2m30s"),
            (9 * minute + 59, "9m59s"),
            (10 * minute + 30, "10m"),
            (3 * hour - 1, "179m"),
            (3 * hour, "3h"),
            (3 * hour + 10 * minute, "3h10m"),
            (8 * hour - 1, "7h59m"),
            (8 * hour + 59 * minute, "8h"),
            (47 * hour, "47h"),
            (2 * day, "2d"),
            (4 * day + 2 * hour, "4d2h"),
            (8 * day - 1, "7d23h"),
            (8 * day, "8d"),
            (2 * year - 1, "729d"),
            (2 * year + 30 * day, "2y30d"),
            (8 * year - 1, "7y364d"),
            (8 * year, "8y"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(secs(seconds), expected, "{seconds}s");
        }
        assert_eq!(human_duration(SignedDuration::from_millis(-1500)), "0s", "a second and a half of skew is tolerated");
        assert_eq!(human_duration(SignedDuration::from_millis(119_999)), "119s");
    }

    #[test]
    fn ages_of_missing_and_future_timestamps() {
        let now: Timestamp = "2025-01-01T12:00:00Z".parse().unwrap();
        assert_eq!(age(&json!({"metadata": {}}), now), "<unknown>");
        assert_eq!(age(&json!({"metadata": {"creationTimestamp": "2025-01-01T11:55:00Z"}}), now), "5m");
        assert_eq!(age(&json!({"metadata": {"creationTimestamp": "2025-01-01T12:00:05Z"}}), now), "<invalid>");
        assert_eq!(since(Some(&json!("2024-12-31T12:00:00.123456Z")), now), "23h");
    }

    #[test]
    fn labels_and_selectors_render_like_upstream() {
        assert_eq!(format_labels(Some(&json!({"b": "2", "a.b": "3", "a": "1"}))), "a.b=3,a=1,b=2");
        assert_eq!(format_labels(None), "<none>");
        assert_eq!(format_label_selector(Some(&json!({"matchLabels": {"app": "web"}}))), "app=web");
        assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
        assert_eq!(format_label_selector(None), "<none>");
        let bad = json!({"matchExpressions": [{"key": "a", "operator": "Bogus"}]});
        assert_eq!(format_label_selector(Some(&bad)), "<error>");
    }
}
