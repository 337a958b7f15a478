//! Latency samples and the summary the load generator prints.

use std::time::Duration;

/// Every round-trip time measured in the window, in nanoseconds. Exact percentiles for the
/// few million samples a run collects cost less than a histogram's bookkeeping per message.
#[derive(Default)]
pub struct Latencies(Vec<u64>);

impl Latencies {
    pub fn record(&mut self, rtt: Duration) {
        self.0.push(rtt.as_nanos() as u64);
    }

    /// p50, p99 and p99.9 in microseconds (zeros without samples).
    pub fn percentiles(&mut self) -> [f64; 3] {
        if self.0.is_empty() {
            return [0.0; 3];
        }
        self.0.sort_unstable();
        [0.50, 0.99, 0.999].map(|q| {
            let i = ((self.0.len() as f64 * q).ceil() as usize).clamp(1, self.0.len()) - 1;
            self.0[i] as f64 / 1000.0
        })
    }
}

/// A JSON value: the report is flat, so numbers, strings, booleans and null are enough.
pub enum Json {
    Null,
    Num(f64),
    Int(u64),
    Str(String),
    Bool(bool),
}

/// One JSON object on one line, keys in the given order.
pub fn json_line(fields: &[(&str, Json)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Json::Num(x) if x.is_finite() => format!("{x:.3}"),
                Json::Num(_) | Json::Null => "null".to_owned(),
                Json::Int(n) => n.to_string(),
                Json::Str(s) => format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
                Json::Bool(b) => b.to_string(),
            };
            format!("\"{k}\":{v}")
        })
        .collect();
    format!("{{{}}}", body.join(","))
}
