//! What `/metrics` says, in the Prometheus text format: requests by route and status
//! with their durations, the jobs this server ran by kind and status with their
//! durations, waits for busy tenants, and events delivered to clients.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the duration buckets, in seconds.
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0];

#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter()) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Debug, Default)]
struct Counters {
    requests: BTreeMap<(String, String, u16), u64>,
    request_seconds: BTreeMap<String, Histogram>,
    jobs: BTreeMap<(String, String), u64>,
    job_seconds: BTreeMap<String, Histogram>,
    lock_waits: BTreeMap<&'static str, u64>,
    lock_wait_seconds: Histogram,
    events_delivered: u64,
}

/// The server's counters, behind one lock (each update is a few additions).
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Counters) -> T) -> T {
        f(&mut self.counters.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.with(|c| {
            *c.requests.entry((method.to_string(), route.to_string(), status)).or_default() += 1;
            c.request_seconds.entry(route.to_string()).or_default().observe(took.as_secs_f64());
        });
    }

    /// A job this server ran ended `status` after `took`.
    pub fn job(&self, kind: &str, status: &str, took: Option<Duration>) {
        self.with(|c| {
            *c.jobs.entry((kind.to_string(), status.to_string())).or_default() += 1;
            if let Some(took) = took {
                c.job_seconds.entry(kind.to_string()).or_default().observe(took.as_secs_f64());
            }
        });
    }

    /// A request found its tenant busy: it waited `waited`, then got it (`acquired`) or
    /// answered 409.
    pub fn lock_wait(&self, acquired: bool, waited: Duration) {
        self.with(|c| {
            *c.lock_waits.entry(if acquired { "acquired" } else { "busy" }).or_default() += 1;
            c.lock_wait_seconds.observe(waited.as_secs_f64());
        });
    }

    pub fn events_delivered(&self, n: usize) {
        self.with(|c| c.events_delivered += n as u64);
    }

    pub fn render(&self) -> String {
        self.with(|c| {
            let mut out = String::new();
            out.push_str("# HELP modreg_http_requests_total HTTP requests answered, by method, route and status.\n");
            out.push_str("# TYPE modreg_http_requests_total counter\n");
            for ((method, route, status), n) in &c.requests {
                let _ =
                    writeln!(out, "modreg_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}", escape(route));
            }
            out.push_str("# HELP modreg_http_request_duration_seconds Time to answer an HTTP request, by route.\n");
            out.push_str("# TYPE modreg_http_request_duration_seconds histogram\n");
            for (route, h) in &c.request_seconds {
                h.render(&mut out, "modreg_http_request_duration_seconds", &format!("route=\"{}\"", escape(route)));
            }
            out.push_str("# HELP modreg_jobs_total Jobs this server ran, by kind and final status.\n");
            out.push_str("# TYPE modreg_jobs_total counter\n");
            for ((kind, status), n) in &c.jobs {
                let _ = writeln!(out, "modreg_jobs_total{{kind=\"{kind}\",status=\"{status}\"}} {n}");
            }
            out.push_str("# HELP modreg_job_duration_seconds How long the jobs this server ran took, by kind.\n");
            out.push_str("# TYPE modreg_job_duration_seconds histogram\n");
            for (kind, h) in &c.job_seconds {
                h.render(&mut out, "modreg_job_duration_seconds", &format!("kind=\"{kind}\""));
            }
            out.push_str("# HELP modreg_lock_waits_total Requests that found their tenant busy, by how the wait ended.\n");
            out.push_str("# TYPE modreg_lock_waits_total counter\n");
            for outcome in ["acquired", "busy"] {
                let _ = writeln!(out, "modreg_lock_waits_total{{outcome=\"{outcome}\"}} {}", c.lock_waits.get(outcome).unwrap_or(&0));
            }
            out.push_str("# HELP modreg_lock_wait_seconds How long requests waited for a busy tenant.\n");
            out.push_str("# TYPE modreg_lock_wait_seconds histogram\n");
            c.lock_wait_seconds.render(&mut out, "modreg_lock_wait_seconds", "");
            out.push_str("# HELP modreg_events_delivered_total Events sent to clients, listed or streamed.\n");
            out.push_str("# TYPE modreg_events_delivered_total counter\n");
            let _ = writeln!(out, "modreg_events_delivered_total {}", c.events_delivered);
            out
        })
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.request("GET", "/v1/tenants", 200, Duration::from_millis(2));
        m.request("GET", "/v1/tenants", 200, Duration::from_millis(20));
        m.job("install", "completed", Some(Duration::from_millis(30)));
        m.lock_wait(false, Duration::from_millis(1));
        m.events_delivered(3);
        let text = m.render();
        assert!(text.contains("modreg_http_requests_total{method=\"GET\",route=\"/v1/tenants\",status=\"200\"} 2"), "{text}");
        assert!(text.contains("modreg_http_request_duration_seconds_bucket{route=\"/v1/tenants\",le=\"0.0025\"} 1"), "{text}");
        assert!(text.contains("modreg_http_request_duration_seconds_bucket{route=\"/v1/tenants\",le=\"0.025\"} 2"), "{text}");
        assert!(text.contains("modreg_jobs_total{kind=\"install\",status=\"completed\"} 1"), "{text}");
        assert!(text.contains("modreg_lock_waits_total{outcome=\"busy\"} 1"), "{text}");
        assert!(text.contains("modreg_events_delivered_total 3"), "{text}");
    }
}
