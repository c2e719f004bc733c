//! The block of figures a benchmark prints: one aligned `label: value` line per figure, plus the arithmetic the
//! figures need (rates, nearest-rank percentiles, medians).
//!
//! Use it from a benchmark with `#[path = "support/figures.rs"] mod figures;`.

use std::time::Duration;

/// The figures so far, one `label: value` line each, aligned.
#[derive(Default)]
pub struct Figures {
    text: String,
}

impl Figures {
    pub fn value(&mut self, label: &str, value: f64, decimals: usize) {
        let label = format!("{label}:");
        self.text.push_str(&format!("{label:<64} {value:>10.decimals$}\n"));
    }

    pub fn rate(&mut self, label: &str, per_second: f64) {
        self.value(label, per_second, 1);
    }

    pub fn millis(&mut self, label: &str, duration: Duration) {
        self.value(label, duration.as_secs_f64() * 1e3, 2);
    }

    pub fn seconds(&mut self, label: &str, duration: Duration) {
        self.value(label, duration.as_secs_f64(), 2);
    }

    /// A memory size given in KiB, shown in MiB.
    pub fn mebibytes(&mut self, label: &str, kib: u64) {
        self.value(label, kib as f64 / 1024.0, 1);
    }

    pub fn latencies(&mut self, label: &str, mut latencies: Vec<Duration>) {
        latencies.sort();
        self.millis(&format!("{label} p50 (ms)"), percentile(&latencies, 50.0));
        self.millis(&format!("{label} p99 (ms)"), percentile(&latencies, 99.0));
    }

    /// The lines so far.
    pub fn into_text(self) -> String {
        self.text
    }
}

pub fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    percentile(&samples, 50.0)
}
