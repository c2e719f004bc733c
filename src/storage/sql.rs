//! The SQL both stores share: event kind codes, the key range a prefix covers, and the queries that read a
//! snapshot or a stretch of history. PostgreSQL and SQLite keep the same tables (`kv`, the current state, and
//! `change_log`, one row per revision), so the only difference here is how a query names its parameters.
//!
//! A snapshot at revision `r` is read without scanning history older than `r`: keys whose current row is not newer
//! than `r` come from `kv`; for each key changed after `r`, its first change after `r` records what it held at `r`
//! (`prev_value`, `prev_revision`, `create_revision`), or that it did not exist yet (a create).

use super::{EventKind, Revision, StorageError, StorageResult};

pub(super) const KIND_CREATED: i16 = 1;
pub(super) const KIND_UPDATED: i16 = 2;
pub(super) const KIND_DELETED: i16 = 3;

pub(super) fn kind_from_code(code: i16) -> StorageResult<EventKind> {
    match code {
        KIND_CREATED => Ok(EventKind::Created),
        KIND_UPDATED => Ok(EventKind::Updated),
        KIND_DELETED => Ok(EventKind::Deleted),
        other => Err(StorageError::Internal(format!("unknown change kind {other} in the change log"))),
    }
}

pub(super) fn kind_code(kind: EventKind) -> i16 {
    match kind {
        EventKind::Created => KIND_CREATED,
        EventKind::Updated => KIND_UPDATED,
        EventKind::Deleted => KIND_DELETED,
        EventKind::Progress => unreachable!("progress notifications come from the hub and are never written"),
    }
}

/// The revision a list reads at: the requested one if history still holds it, else the current one.
pub(super) fn snapshot_revision(requested: Option<Revision>, current: Revision, compacted: Revision) -> StorageResult<Revision> {
    match requested {
        None => Ok(current),
        Some(requested) if requested > current => Err(StorageError::FutureRevision { requested, current }),
        Some(requested) if requested < compacted => Err(StorageError::Compacted { requested, oldest: compacted }),
        Some(requested) => Ok(requested),
    }
}

/// Checks that a watch may start after `after`: its history is retained and it is not in the future.
pub(super) fn check_watch_start(after: Revision, current: Revision, compacted: Revision) -> StorageResult<()> {
    snapshot_revision(Some(after), current, compacted).map(drop)
}

#[derive(Clone, Copy)]
pub(super) enum Dialect {
    Postgres,
    Sqlite,
}

impl Dialect {
    fn param(self, position: usize) -> String {
        match self {
            Dialect::Postgres => format!("${position}"),
            Dialect::Sqlite => format!("?{position}"),
        }
    }
}

/// The keys a request covers, as bounds a primary-key index can range-scan (keys compare bytewise: `COLLATE "C"`
/// in PostgreSQL, the default `BINARY` in SQLite, which for UTF-8 is code point order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct KeyRange {
    lower: String,
    /// Whether `lower` itself is in the range (a prefix is; a continue position is not).
    lower_inclusive: bool,
    /// The first key past the range; `None` when no key is (an empty prefix).
    upper: Option<String>,
}

impl KeyRange {
    pub(super) fn prefix(prefix: &str) -> Self {
        KeyRange { lower: prefix.to_owned(), lower_inclusive: true, upper: prefix_successor(prefix) }
    }

    /// The keys under `prefix` strictly after `start_after`.
    pub(super) fn after(prefix: &str, start_after: Option<&str>) -> Self {
        let range = KeyRange::prefix(prefix);
        match start_after {
            Some(start) if start >= prefix => KeyRange { lower: start.to_owned(), lower_inclusive: false, ..range },
            _ => range,
        }
    }

    /// The condition on `column`, with the lower bound as parameter `first` and the upper (if any) as `first + 1`.
    fn condition(&self, dialect: Dialect, column: &str, first: usize) -> String {
        let op = if self.lower_inclusive { ">=" } else { ">" };
        let mut condition = format!("{column} {op} {}", dialect.param(first));
        if self.upper.is_some() {
            condition.push_str(&format!(" AND {column} < {}", dialect.param(first + 1)));
        }
        condition
    }

    /// The values of the parameters `condition` uses, in order.
    pub(super) fn params(&self) -> Vec<&str> {
        std::iter::once(self.lower.as_str()).chain(self.upper.as_deref()).collect()
    }

    fn param_count(&self) -> usize {
        if self.upper.is_some() {
            2
        } else {
            1
        }
    }
}

/// The smallest string greater than every string that starts with `prefix`, or `None` when there is none.
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The next scalar value, stepping over the surrogate range that `char` cannot hold.
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The rows of the snapshot at revision param 1 in `range` (params from 2), ordered by key, as
/// `key, value, mod_revision, create_revision`; limited by the param after the range when `limited`.
pub(super) fn snapshot_page(dialect: Dialect, range: &KeyRange, limited: bool) -> String {
    let (current, earlier) = snapshot_halves(
        dialect,
        range,
        ", value, mod_revision, create_revision",
        ", log.prev_value, log.prev_revision, log.create_revision",
    );
    if !limited {
        return format!("SELECT * FROM ({current} UNION ALL {earlier}) AS snapshot ORDER BY key");
    }
    // Each half is ordered and limited on its own: the planner does not push a limit into a union, and without
    // it a page of a long range would read the whole range instead of the first rows of the key index.
    let limit = dialect.param(2 + range.param_count());
    format!(
        "SELECT * FROM ( \
             SELECT * FROM ({current} ORDER BY key LIMIT {limit}) AS current_rows \
             UNION ALL \
             SELECT * FROM ({earlier} ORDER BY log.key LIMIT {limit}) AS earlier_rows \
         ) AS snapshot ORDER BY key LIMIT {limit}"
    )
}

/// How many keys `kv` holds in `range` (params from 1).
pub(super) fn current_count(dialect: Dialect, range: &KeyRange) -> String {
    format!("SELECT count(*) FROM kv WHERE {}", range.condition(dialect, "key", 1))
}

/// How many keys the snapshot at revision param 1 holds in `range` (params from 2).
pub(super) fn snapshot_count(dialect: Dialect, range: &KeyRange) -> String {
    let (current, earlier) = snapshot_halves(dialect, range, "", "");
    format!("SELECT count(*) FROM ({current} UNION ALL {earlier}) AS snapshot")
}

/// The two halves of a snapshot: `kv` rows not changed since it (`key` and `current_columns`), and for the keys
/// changed since and present at it, their first change after it (`key` and `earlier_columns`: the same values as
/// of the snapshot). The second half reads only log rows newer than the snapshot.
fn snapshot_halves(dialect: Dialect, range: &KeyRange, current_columns: &str, earlier_columns: &str) -> (String, String) {
    let revision = dialect.param(1);
    let in_range = range.condition(dialect, "key", 2);
    let current = format!("SELECT key{current_columns} FROM kv WHERE {in_range} AND mod_revision <= {revision}");
    let earlier = format!(
        "SELECT log.key{earlier_columns} FROM change_log AS log \
         JOIN (SELECT key, min(revision) AS revision FROM change_log \
               WHERE revision > {revision} AND {in_range} GROUP BY key) AS first_after \
         ON log.revision = first_after.revision \
         WHERE log.revision > {revision} AND log.kind <> {KIND_CREATED}"
    );
    (current, earlier)
}

/// The changes in `range` (params from 3) with a revision in `(param 1, param 2]`, oldest first, limited by the
/// param after the range, as `revision, key, kind, value, prev_value`.
pub(super) fn changes_page(dialect: Dialect, range: &KeyRange) -> String {
    format!(
        "SELECT revision, key, kind, value, prev_value FROM change_log \
         WHERE revision > {} AND revision <= {} AND {} ORDER BY revision LIMIT {}",
        dialect.param(1),
        dialect.param(2),
        range.condition(dialect, "key", 3),
        dialect.param(3 + range.param_count()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successor_bounds_exactly_the_prefixed_keys() {
        assert_eq!(prefix_successor("/a/b/").as_deref(), Some("/a/b0"));
        assert_eq!(prefix_successor("").as_deref(), None);
        assert_eq!(prefix_successor("a\u{7f}").as_deref(), Some("a\u{80}"));
        assert_eq!(prefix_successor("a\u{d7ff}").as_deref(), Some("a\u{e000}"));
        assert_eq!(prefix_successor("a\u{10ffff}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{10ffff}").as_deref(), None);
        for key in ["a\u{7f}", "a\u{7f}\u{10ffff}", "a\u{7f}zz"] {
            assert!(key < "a\u{80}" && key.as_bytes() < "a\u{80}".as_bytes(), "{key:?}");
        }
    }

    #[test]
    fn continue_position_before_the_prefix_keeps_the_prefix_bound() {
        assert_eq!(KeyRange::after("/b/", Some("/a/z")), KeyRange::prefix("/b/"));
        let after = KeyRange::after("/b/", Some("/b/x"));
        assert_eq!((after.lower.as_str(), after.lower_inclusive, after.upper.as_deref()), ("/b/x", false, Some("/b0")));
    }
}
