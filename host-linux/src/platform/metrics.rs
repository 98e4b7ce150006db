//! The bot's counters, and `GET /metrics` in the Prometheus text exposition format
//! (version 0.0.4).
//!
//! This module owns the counters that outlive a single snapshot: calls by how they ended,
//! call seconds, SMS by direction, outcome and path, handoffs and their SMS downtime,
//! webhook deliveries and drops, late audio frames. Whoever observes a thing counts it here
//! (lock-free atomics, so the bot's loop never waits for a scrape); the gauges (signal,
//! registration, queue depth, the bot's phase) are read from the bot's snapshot at scrape
//! time. [`Metrics::render`] writes the text, one `# HELP` and `# TYPE` per family, as
//! `promtool check metrics` accepts it.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// How a call ended, as the `outcome` label of `sim7600_calls_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// Answered and ended (by either side, a limit or the network).
    Answered,
    /// Rang and was never answered.
    Missed,
    /// Rejected (hung up while ringing) by the bot, the API or a menu.
    Rejected,
    /// Lost with the modem.
    Lost,
    /// Dialled by the bot and never connected (busy, no answer, failed, cancelled).
    NotConnected,
}

impl CallOutcome {
    const ALL: [CallOutcome; 5] = [
        CallOutcome::Answered,
        CallOutcome::Missed,
        CallOutcome::Rejected,
        CallOutcome::Lost,
        CallOutcome::NotConnected,
    ];

    fn label(self) -> &'static str {
        match self {
            CallOutcome::Answered => "answered",
            CallOutcome::Missed => "missed",
            CallOutcome::Rejected => "rejected",
            CallOutcome::Lost => "lost",
            CallOutcome::NotConnected => "not_connected",
        }
    }
}

/// Which way an SMS went and how it ended, as the `result` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsResult {
    /// Sent (the modem accepted every part).
    Sent,
    /// Given up on.
    Failed,
    /// Received whole and delivered (into smstools' incoming/ or an event).
    Received,
}

impl SmsResult {
    const ALL: [SmsResult; 3] = [SmsResult::Sent, SmsResult::Failed, SmsResult::Received];

    fn label(self) -> &'static str {
        match self {
            SmsResult::Sent => "sent",
            SmsResult::Failed => "failed",
            SmsResult::Received => "received",
        }
    }
}

/// Where an SMS came from or went, as the `path` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsPath {
    /// The HTTP API's queue.
    Api,
    /// smstools' spool folders.
    Spool,
}

impl SmsPath {
    const ALL: [SmsPath; 2] = [SmsPath::Api, SmsPath::Spool];

    fn label(self) -> &'static str {
        match self {
            SmsPath::Api => "api",
            SmsPath::Spool => "spool",
        }
    }
}

/// The upper bounds (seconds) of the handoff downtime histogram's buckets: from a
/// suspend-file handoff's few milliseconds to a systemctl stop that waits out its timeout.
pub const DOWNTIME_BUCKETS_S: [f64; 10] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// A Prometheus histogram of seconds with fixed buckets, lock-free.
#[derive(Debug)]
struct Histogram {
    /// Per bucket (not cumulative): observations at most that bound and above the one before.
    buckets: [AtomicU64; DOWNTIME_BUCKETS_S.len()],
    /// Observations above the last bound.
    over: AtomicU64,
    /// The sum, in microseconds (atomics hold integers).
    sum_us: AtomicU64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            over: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }

    fn observe(&self, seconds: f64) {
        let seconds = if seconds.is_finite() && seconds > 0.0 {
            seconds
        } else {
            0.0
        };
        match DOWNTIME_BUCKETS_S.iter().position(|&b| seconds <= b) {
            Some(i) => self.buckets[i].fetch_add(1, Ordering::Relaxed),
            None => self.over.fetch_add(1, Ordering::Relaxed),
        };
        // At most u64::MAX µs (half a million years): the cast saturates.
        self.sum_us
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }
}

/// The counters: see the module documentation. One per bot, shared by `Arc`.
#[derive(Debug)]
pub struct Metrics {
    calls: [AtomicU64; CallOutcome::ALL.len()],
    call_ms: AtomicU64,
    sms: [[AtomicU64; SmsPath::ALL.len()]; SmsResult::ALL.len()],
    handoff_downtime: Histogram,
    webhook_delivered: AtomicU64,
    webhook_failed: AtomicU64,
    webhook_dropped: AtomicU64,
    audio_frames_late: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// The gauges read from the bot at scrape time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gauges {
    /// Whether the bot holds the port and the modem answers (1) or not (0).
    pub up: bool,
    /// The signal in dBm, when known.
    pub signal_dbm: Option<i16>,
    /// The RSSI index 0..=31, when known.
    pub signal_rssi: Option<u8>,
    /// Whether the modem is registered on a network, when known.
    pub registered: Option<bool>,
    /// Messages waiting in the API's SMS queue.
    pub queue_depth: u64,
    /// Times the bot got the modem back since start.
    pub reconnects: u64,
    /// Times the modem restarted by itself since start.
    pub modem_resets: u64,
    /// Whether a call is in progress.
    pub call_in_progress: bool,
}

impl Metrics {
    /// All counters at zero.
    pub fn new() -> Metrics {
        Metrics {
            calls: std::array::from_fn(|_| AtomicU64::new(0)),
            call_ms: AtomicU64::new(0),
            sms: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            handoff_downtime: Histogram::new(),
            webhook_delivered: AtomicU64::new(0),
            webhook_failed: AtomicU64::new(0),
            webhook_dropped: AtomicU64::new(0),
            audio_frames_late: AtomicU64::new(0),
        }
    }

    /// A call ended this way, after `connected_ms` connected (0 when never answered).
    pub fn call_ended(&self, outcome: CallOutcome, connected_ms: u64) {
        let i = CallOutcome::ALL
            .iter()
            .position(|&o| o == outcome)
            .unwrap_or(0);
        self.calls[i].fetch_add(1, Ordering::Relaxed);
        self.call_ms.fetch_add(connected_ms, Ordering::Relaxed);
    }

    /// One SMS (a whole message) ended this way on this path.
    pub fn sms(&self, result: SmsResult, path: SmsPath) {
        let r = SmsResult::ALL
            .iter()
            .position(|&x| x == result)
            .unwrap_or(0);
        let p = SmsPath::ALL.iter().position(|&x| x == path).unwrap_or(0);
        self.sms[r][p].fetch_add(1, Ordering::Relaxed);
    }

    /// A handoff took the port from smstools, with SMS down for `seconds`.
    pub fn handoff(&self, seconds: f64) {
        self.handoff_downtime.observe(seconds);
    }

    /// A webhook delivery succeeded.
    pub fn webhook_delivered(&self) {
        self.webhook_delivered.fetch_add(1, Ordering::Relaxed);
    }

    /// A webhook delivery failed for good (after its retries).
    pub fn webhook_failed(&self) {
        self.webhook_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// Events a slow webhook fell behind on and never got.
    pub fn webhook_dropped(&self, n: u64) {
        self.webhook_dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// Audio frames that reached the call later than their time.
    pub fn audio_frames_late(&self, n: u64) {
        self.audio_frames_late.fetch_add(n, Ordering::Relaxed);
    }

    /// The exposition text: every family with its help and type, then its samples.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);

        family(
            &mut out,
            "sim7600_up",
            "gauge",
            "1 while the bot holds the port and the modem answers.",
        );
        sample(&mut out, "sim7600_up", "", u64::from(gauges.up));

        family(
            &mut out,
            "sim7600_calls_total",
            "counter",
            "Calls by how they ended.",
        );
        for (i, o) in CallOutcome::ALL.iter().enumerate() {
            sample(
                &mut out,
                "sim7600_calls_total",
                &format!("outcome=\"{}\"", o.label()),
                load(&self.calls[i]),
            );
        }
        family(
            &mut out,
            "sim7600_call_seconds_total",
            "counter",
            "Seconds calls were connected.",
        );
        let _ = writeln!(
            out,
            "sim7600_call_seconds_total {}",
            load(&self.call_ms) as f64 / 1000.0
        );
        family(
            &mut out,
            "sim7600_call_in_progress",
            "gauge",
            "1 while a call rings or is connected.",
        );
        sample(
            &mut out,
            "sim7600_call_in_progress",
            "",
            u64::from(gauges.call_in_progress),
        );

        family(
            &mut out,
            "sim7600_sms_total",
            "counter",
            "Whole SMS by result (sent, failed, received) and path (api, spool).",
        );
        for (r, result) in SmsResult::ALL.iter().enumerate() {
            for (p, path) in SmsPath::ALL.iter().enumerate() {
                let labels = format!("result=\"{}\",path=\"{}\"", result.label(), path.label());
                sample(
                    &mut out,
                    "sim7600_sms_total",
                    &labels,
                    load(&self.sms[r][p]),
                );
            }
        }
        family(
            &mut out,
            "sim7600_sms_queue_depth",
            "gauge",
            "Messages waiting in the HTTP API's SMS queue.",
        );
        sample(&mut out, "sim7600_sms_queue_depth", "", gauges.queue_depth);

        let h = &self.handoff_downtime;
        family(
            &mut out,
            "sim7600_handoff_downtime_seconds",
            "histogram",
            "SMS downtime of each handoff that took the port from smstools.",
        );
        let mut cumulative = 0;
        for (i, bound) in DOWNTIME_BUCKETS_S.iter().enumerate() {
            cumulative += load(&h.buckets[i]);
            let _ = writeln!(
                out,
                "sim7600_handoff_downtime_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += load(&h.over);
        let _ = writeln!(
            out,
            "sim7600_handoff_downtime_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(
            out,
            "sim7600_handoff_downtime_seconds_sum {}",
            load(&h.sum_us) as f64 / 1e6
        );
        let _ = writeln!(out, "sim7600_handoff_downtime_seconds_count {cumulative}");

        family(
            &mut out,
            "sim7600_modem_reconnects_total",
            "counter",
            "Times the bot got the modem back (port reopened or modem initialised again).",
        );
        sample(
            &mut out,
            "sim7600_modem_reconnects_total",
            "",
            gauges.reconnects,
        );
        family(
            &mut out,
            "sim7600_modem_resets_total",
            "counter",
            "Times the modem restarted by itself (RDY).",
        );
        sample(
            &mut out,
            "sim7600_modem_resets_total",
            "",
            gauges.modem_resets,
        );
        if let Some(dbm) = gauges.signal_dbm {
            family(
                &mut out,
                "sim7600_signal_dbm",
                "gauge",
                "Received signal strength (AT+CSQ), dBm.",
            );
            let _ = writeln!(out, "sim7600_signal_dbm {dbm}");
        }
        if let Some(rssi) = gauges.signal_rssi {
            family(
                &mut out,
                "sim7600_signal_rssi",
                "gauge",
                "Received signal strength index 0..31 (AT+CSQ).",
            );
            sample(&mut out, "sim7600_signal_rssi", "", u64::from(rssi));
        }
        if let Some(registered) = gauges.registered {
            family(
                &mut out,
                "sim7600_network_registered",
                "gauge",
                "1 while the modem is registered on a network.",
            );
            sample(
                &mut out,
                "sim7600_network_registered",
                "",
                u64::from(registered),
            );
        }

        family(
            &mut out,
            "sim7600_webhook_deliveries_total",
            "counter",
            "Webhook deliveries by result.",
        );
        sample(
            &mut out,
            "sim7600_webhook_deliveries_total",
            "result=\"delivered\"",
            load(&self.webhook_delivered),
        );
        sample(
            &mut out,
            "sim7600_webhook_deliveries_total",
            "result=\"failed\"",
            load(&self.webhook_failed),
        );
        family(
            &mut out,
            "sim7600_webhook_events_dropped_total",
            "counter",
            "Events a slow webhook fell behind on and never got.",
        );
        sample(
            &mut out,
            "sim7600_webhook_events_dropped_total",
            "",
            load(&self.webhook_dropped),
        );

        family(
            &mut out,
            "sim7600_audio_frames_late_total",
            "counter",
            "Audio frames that reached the call later than their time.",
        );
        sample(
            &mut out,
            "sim7600_audio_frames_late_total",
            "",
            load(&self.audio_frames_late),
        );
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &str, value: u64) {
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {value}");
    } else {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn counters_show_under_their_labels() {
        let m = Metrics::new();
        m.call_ended(CallOutcome::Answered, 12_500);
        m.call_ended(CallOutcome::Missed, 0);
        m.call_ended(CallOutcome::Answered, 500);
        m.sms(SmsResult::Sent, SmsPath::Api);
        m.sms(SmsResult::Received, SmsPath::Spool);
        m.sms(SmsResult::Received, SmsPath::Spool);
        m.webhook_dropped(3);
        let text = m.render(&Gauges::default());
        assert_eq!(
            value(&text, "sim7600_calls_total{outcome=\"answered\"}"),
            Some(2.0)
        );
        assert_eq!(
            value(&text, "sim7600_calls_total{outcome=\"missed\"}"),
            Some(1.0)
        );
        assert_eq!(value(&text, "sim7600_call_seconds_total"), Some(13.0));
        assert_eq!(
            value(&text, "sim7600_sms_total{result=\"sent\",path=\"api\"}"),
            Some(1.0)
        );
        assert_eq!(
            value(
                &text,
                "sim7600_sms_total{result=\"received\",path=\"spool\"}"
            ),
            Some(2.0)
        );
        assert_eq!(
            value(&text, "sim7600_sms_total{result=\"failed\",path=\"spool\"}"),
            Some(0.0)
        );
        assert_eq!(
            value(&text, "sim7600_webhook_events_dropped_total"),
            Some(3.0)
        );
    }

    #[test]
    fn the_downtime_histogram_is_cumulative_and_counts_everything() {
        let m = Metrics::new();
        for s in [0.004, 0.04, 0.07, 3.0, 42.0] {
            m.handoff(s);
        }
        let text = m.render(&Gauges::default());
        let b = |le: &str| {
            value(
                &text,
                &format!("sim7600_handoff_downtime_seconds_bucket{{le=\"{le}\"}}"),
            )
        };
        assert_eq!(b("0.01"), Some(1.0));
        assert_eq!(b("0.05"), Some(2.0));
        assert_eq!(b("0.1"), Some(3.0));
        assert_eq!(b("5"), Some(4.0));
        assert_eq!(b("10"), Some(4.0));
        assert_eq!(b("+Inf"), Some(5.0));
        assert_eq!(
            value(&text, "sim7600_handoff_downtime_seconds_count"),
            Some(5.0)
        );
        let sum = value(&text, "sim7600_handoff_downtime_seconds_sum").unwrap_or(0.0);
        assert!((sum - 45.114).abs() < 1e-6, "sum {sum}");
    }

    #[test]
    fn unknown_gauges_are_left_out_rather_than_shown_as_zero() {
        let text = Metrics::new().render(&Gauges::default());
        assert!(
            !text.contains("sim7600_signal_dbm"),
            "no reading, no sample"
        );
        let text = Metrics::new().render(&Gauges {
            signal_dbm: Some(-71),
            registered: Some(true),
            up: true,
            ..Gauges::default()
        });
        assert_eq!(value(&text, "sim7600_signal_dbm"), Some(-71.0));
        assert_eq!(value(&text, "sim7600_network_registered"), Some(1.0));
        assert_eq!(value(&text, "sim7600_up"), Some(1.0));
    }

    #[test]
    fn every_family_has_help_and_type_before_its_samples() {
        let text = Metrics::new().render(&Gauges {
            signal_dbm: Some(-80),
            signal_rssi: Some(16),
            registered: Some(false),
            ..Gauges::default()
        });
        let mut declared = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap_or("");
                assert!(declared.insert(name.to_string()), "{name} declared twice");
            } else if !line.starts_with('#') {
                let series = line.split(['{', ' ']).next().unwrap_or("");
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| series.strip_suffix(s).filter(|f| declared.contains(*f)))
                    .unwrap_or(series);
                assert!(
                    declared.contains(family),
                    "{series} has no # TYPE before it"
                );
            }
        }
    }
}
