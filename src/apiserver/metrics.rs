//! Prometheus metrics in the text exposition format: requests by verb, resource and code with latency
//! histograms, open watches, and storage operation latency (through `InstrumentedBackend`, a decorator over
//! any storage backend). Hand-rolled on atomics and one mutex, because the set is small and fixed.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::storage::{Backend, KeyValue, ListRequest, ListResult, Revision, StorageResult, WatchStream};

/// Histogram bucket upper bounds in seconds, as upstream's request latency buckets (trimmed).
const LATENCY_BUCKETS_SECONDS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0];

#[derive(Default)]
struct Histogram {
    bucket_counts: Vec<u64>,
    count: u64,
    sum_seconds: f64,
}

impl Histogram {
    fn observe(&mut self, elapsed: Duration) {
        if self.bucket_counts.is_empty() {
            self.bucket_counts = vec![0; LATENCY_BUCKETS_SECONDS.len()];
        }
        let seconds = elapsed.as_secs_f64();
        for (bound, count) in LATENCY_BUCKETS_SECONDS.iter().zip(self.bucket_counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum_seconds += seconds;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        for (bound, count) in LATENCY_BUCKETS_SECONDS.iter().zip(&self.bucket_counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum_seconds);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Default)]
struct Tables {
    requests: BTreeMap<(String, String, u16), u64>,
    request_latency: BTreeMap<(String, String), Histogram>,
    storage_latency: BTreeMap<&'static str, Histogram>,
}

/// The server's metrics registry.
#[derive(Default)]
pub struct Metrics {
    tables: Mutex<Tables>,
    open_watches: Arc<AtomicI64>,
}

/// Counts one open watch for as long as it lives.
pub struct OpenWatch(Arc<AtomicI64>);

impl Drop for OpenWatch {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    pub fn record_request(&self, verb: &str, resource: &str, code: u16, elapsed: Duration) {
        let mut tables = self.tables.lock().expect("metrics lock is never poisoned by a panic in a short critical section");
        *tables.requests.entry((verb.to_string(), resource.to_string(), code)).or_default() += 1;
        tables.request_latency.entry((verb.to_string(), resource.to_string())).or_default().observe(elapsed);
    }

    fn record_storage(&self, operation: &'static str, elapsed: Duration) {
        let mut tables = self.tables.lock().expect("metrics lock is never poisoned by a panic in a short critical section");
        tables.storage_latency.entry(operation).or_default().observe(elapsed);
    }

    pub fn open_watch(&self) -> OpenWatch {
        self.open_watches.fetch_add(1, Ordering::Relaxed);
        OpenWatch(self.open_watches.clone())
    }

    /// The whole registry in Prometheus text format.
    pub fn render(&self) -> String {
        let tables = self.tables.lock().expect("metrics lock is never poisoned by a panic in a short critical section");
        let mut out = String::new();
        out.push_str("# HELP apiserver_request_total Counter of API requests by verb, resource and HTTP code.\n# TYPE apiserver_request_total counter\n");
        for ((verb, resource, code), count) in &tables.requests {
            let _ = writeln!(out, "apiserver_request_total{{verb=\"{verb}\",resource=\"{resource}\",code=\"{code}\"}} {count}");
        }
        out.push_str("# HELP apiserver_request_duration_seconds Request latency by verb and resource.\n# TYPE apiserver_request_duration_seconds histogram\n");
        for ((verb, resource), histogram) in &tables.request_latency {
            histogram.write(&mut out, "apiserver_request_duration_seconds", &format!("verb=\"{verb}\",resource=\"{resource}\""));
        }
        out.push_str("# HELP apiserver_longrunning_requests Open watch requests.\n# TYPE apiserver_longrunning_requests gauge\n");
        let _ = writeln!(out, "apiserver_longrunning_requests{{verb=\"WATCH\"}} {}", self.open_watches.load(Ordering::Relaxed));
        out.push_str("# HELP apiserver_storage_operation_duration_seconds Storage operation latency by operation.\n# TYPE apiserver_storage_operation_duration_seconds histogram\n");
        for (operation, histogram) in &tables.storage_latency {
            histogram.write(&mut out, "apiserver_storage_operation_duration_seconds", &format!("operation=\"{operation}\""));
        }
        out
    }
}

/// A storage backend that records the latency of every operation.
pub struct InstrumentedBackend {
    pub inner: Arc<dyn Backend>,
    pub metrics: Arc<Metrics>,
}

impl InstrumentedBackend {
    async fn timed<T>(&self, operation: &'static str, work: impl std::future::Future<Output = T>) -> T {
        let started = Instant::now();
        let result = work.await;
        self.metrics.record_storage(operation, started.elapsed());
        result
    }
}

#[async_trait::async_trait]
impl Backend for InstrumentedBackend {
    async fn get(&self, key: &str) -> StorageResult<Option<KeyValue>> {
        self.timed("get", self.inner.get(key)).await
    }
    async fn create(&self, key: &str, value: Vec<u8>) -> StorageResult<KeyValue> {
        self.timed("create", self.inner.create(key, value)).await
    }
    async fn update(&self, key: &str, expected_revision: Revision, value: Vec<u8>) -> StorageResult<KeyValue> {
        self.timed("update", self.inner.update(key, expected_revision, value)).await
    }
    async fn delete(&self, key: &str, expected_revision: Option<Revision>) -> StorageResult<KeyValue> {
        self.timed("delete", self.inner.delete(key, expected_revision)).await
    }
    async fn list(&self, request: &ListRequest) -> StorageResult<ListResult> {
        self.timed("list", self.inner.list(request)).await
    }
    async fn count(&self, prefix: &str) -> StorageResult<u64> {
        self.timed("count", self.inner.count(prefix)).await
    }
    async fn current_revision(&self) -> StorageResult<Revision> {
        self.timed("current_revision", self.inner.current_revision()).await
    }
    async fn watch(&self, prefix: &str, after_revision: Revision) -> StorageResult<WatchStream> {
        self.timed("watch", self.inner.watch(prefix, after_revision)).await
    }
    async fn compacted_revision(&self) -> StorageResult<Revision> {
        self.timed("compacted_revision", self.inner.compacted_revision()).await
    }

    fn notify_progress(&self) {
        self.inner.notify_progress()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_lists_requests_histograms_and_watches() {
        let metrics = Metrics::default();
        metrics.record_request("GET", "pods", 200, Duration::from_millis(3));
        let _watch = metrics.open_watch();
        let text = metrics.render();
        assert!(text.contains("apiserver_request_total{verb=\"GET\",resource=\"pods\",code=\"200\"} 1"));
        assert!(text.contains("apiserver_request_duration_seconds_bucket{verb=\"GET\",resource=\"pods\",le=\"0.005\"} 1"));
        assert!(text.contains("apiserver_longrunning_requests{verb=\"WATCH\"} 1"));
    }
}
