//! Expectations: the creates and deletes a controller has sent for one owner but not yet seen in its watch.
//! A controller that reconciles again before its cache shows its own writes would otherwise create the same pods
//! twice (upstream's `ControllerExpectations`). A controller records what it sent, skips acting for that owner
//! until the cache shows all of it, and gives up waiting after [`EXPECTATIONS_TIMEOUT`] (a lost watch event must
//! not wedge an owner forever).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long unobserved writes hold an owner back, as upstream's `ExpectationsTimeout`.
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Default)]
struct Pending {
    /// Names of children created but not yet seen.
    creates: HashSet<String>,
    /// Names of children deleted but still seen (without a deletionTimestamp).
    deletes: HashSet<String>,
    since: Option<Instant>,
}

/// Expectations of every owner of one controller, keyed by owner uid.
#[derive(Default)]
pub struct Expectations {
    owners: Mutex<HashMap<String, Pending>>,
}

impl Expectations {
    pub fn expect_created(&self, owner_uid: &str, child_name: &str) {
        let mut owners = self.lock();
        let pending = owners.entry(owner_uid.to_string()).or_default();
        pending.creates.insert(child_name.to_string());
        pending.since.get_or_insert_with(Instant::now);
    }

    pub fn expect_deleted(&self, owner_uid: &str, child_name: &str) {
        let mut owners = self.lock();
        let pending = owners.entry(owner_uid.to_string()).or_default();
        pending.deletes.insert(child_name.to_string());
        pending.since.get_or_insert_with(Instant::now);
    }

    /// Whether the cache (`present(name)`: the child is there and not being deleted) shows every write sent
    /// for `owner_uid`; forgets what it shows. True also once the wait timed out.
    pub fn satisfied(&self, owner_uid: &str, present: impl Fn(&str) -> bool) -> bool {
        let mut owners = self.lock();
        let Some(pending) = owners.get_mut(owner_uid) else { return true };
        pending.creates.retain(|name| !present(name));
        pending.deletes.retain(|name| present(name));
        let timed_out = pending.since.is_some_and(|since| since.elapsed() >= EXPECTATIONS_TIMEOUT);
        if timed_out {
            tracing::debug!(owner_uid, "expectations timed out; acting on the cache as it is");
        }
        if timed_out || (pending.creates.is_empty() && pending.deletes.is_empty()) {
            owners.remove(owner_uid);
            return true;
        }
        false
    }

    /// Forgets an owner (deleted, or a write failed and the cache will never show it).
    pub fn forget(&self, owner_uid: &str) {
        self.lock().remove(owner_uid);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.owners.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_waits_until_its_writes_show() {
        let expectations = Expectations::default();
        assert!(expectations.satisfied("rs-1", |_| false), "nothing sent, nothing to wait for");
        expectations.expect_created("rs-1", "web-a");
        expectations.expect_deleted("rs-1", "web-old");
        assert!(!expectations.satisfied("rs-1", |name| name == "web-old"), "the create is not seen yet");
        assert!(!expectations.satisfied("rs-1", |name| name == "web-a" || name == "web-old"), "the delete is not seen yet");
        assert!(expectations.satisfied("rs-1", |name| name == "web-a"));
        assert!(expectations.satisfied("rs-2", |_| false), "owners are independent");
    }
}
