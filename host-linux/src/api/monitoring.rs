//! `GET /metrics` (the Prometheus text format) and `GET /healthz`, sans-I/O.
//!
//! Both read what the bot publishes: its counters ([`crate::bot::BotState::metrics`]) and
//! its snapshot, whose gauges (signal, registration, the phase, the call) are read at
//! scrape time. The health rule is [`health`]: the bot holds the port (phase `running`)
//! and the modem answered within the last health check period, with one more period of
//! grace for the check that is due or in progress (the modem's last answer is never more
//! than one period old while the checks succeed). So a modem that misses one check turns
//! the bot unhealthy within two periods, long before the bot gives up on it.

use std::time::Duration;

use serde_json::json;

use super::routes::{ApiContext, ApiResponse};
use crate::bot::{BotPhase, BotSnapshot};
use crate::platform::metrics::Gauges;

/// The `Content-Type` of `GET /metrics`: the Prometheus text exposition format 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Why the bot is not healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unhealthy {
    /// Taking the port, or initialising the modem.
    Starting,
    /// The modem was lost; the bot tries to get it back.
    Reconnecting,
    /// Giving the port back.
    Stopping,
    /// The modem has not answered since this time (RFC 3339), or never (`None`).
    NotAnswering(Option<String>),
}

impl Unhealthy {
    /// The reason as `/healthz` says it.
    pub fn reason(&self) -> String {
        match self {
            Unhealthy::Starting => "starting".into(),
            Unhealthy::Reconnecting => "reconnecting".into(),
            Unhealthy::Stopping => "stopping".into(),
            Unhealthy::NotAnswering(Some(since)) => format!("modem not answering since {since}"),
            Unhealthy::NotAnswering(None) => "modem not answering".into(),
        }
    }
}

/// Whether the bot is healthy at `now`: see the module documentation. `interval` is the
/// bot's health check period.
pub fn health(
    snapshot: &BotSnapshot,
    interval: Duration,
    now: jiff::Timestamp,
) -> Result<(), Unhealthy> {
    match snapshot.phase {
        BotPhase::Starting => return Err(Unhealthy::Starting),
        BotPhase::Reconnecting => return Err(Unhealthy::Reconnecting),
        BotPhase::Stopping => return Err(Unhealthy::Stopping),
        BotPhase::Running => {}
    }
    let last = snapshot.last_modem_answer.clone();
    let answered = last
        .as_deref()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    let Some(answered) = answered else {
        return Err(Unhealthy::NotAnswering(last));
    };
    let age = now.duration_since(answered);
    let limit = jiff::SignedDuration::try_from(interval.saturating_mul(2))
        .unwrap_or(jiff::SignedDuration::MAX);
    if age > limit {
        return Err(Unhealthy::NotAnswering(last));
    }
    Ok(())
}

/// Whether the registration word of the snapshot (`bot.network`) lets calls and SMS work:
/// the home network or roaming.
pub fn registered(network: &str) -> bool {
    matches!(network, "home" | "roaming")
}

/// `GET /healthz`: 200 `{"status": "ok", ...}`, or 503 `{"status": "unhealthy", "reason":
/// ...}`.
pub fn healthz(context: &ApiContext) -> ApiResponse {
    let snapshot = context.bot.snapshot();
    let interval = context.bot.health_interval();
    let common = |status: &str| {
        json!({
            "status": status,
            "phase": snapshot.phase,
            "port": snapshot.port,
            "last_modem_answer": snapshot.last_modem_answer,
            "health_interval_s": interval.as_secs_f64(),
        })
    };
    match health(&snapshot, interval, jiff::Timestamp::now()) {
        Ok(()) => ApiResponse::json(200, common("ok")),
        Err(why) => {
            let mut body = common("unhealthy");
            if let Some(map) = body.as_object_mut() {
                map.insert("reason".into(), why.reason().into());
            }
            ApiResponse::json(503, body)
        }
    }
}

/// `GET /metrics`: the counters and the gauges of now, as text.
pub fn metrics(context: &ApiContext) -> ApiResponse {
    let snapshot = context.bot.snapshot();
    let up = health(
        &snapshot,
        context.bot.health_interval(),
        jiff::Timestamp::now(),
    )
    .is_ok();
    let queue_depth = match context.queue.depth() {
        Ok(n) => u64::try_from(n).unwrap_or(u64::MAX),
        Err(e) => {
            log::warn!("GET /metrics: {e}");
            0
        }
    };
    let gauges = Gauges {
        up,
        signal_dbm: snapshot.signal.as_ref().and_then(|s| s.dbm),
        signal_rssi: snapshot.signal.as_ref().and_then(|s| s.rssi),
        registered: snapshot.network.as_deref().map(registered),
        queue_depth,
        reconnects: u64::from(snapshot.reconnects),
        modem_resets: u64::from(snapshot.modem_resets),
        call_in_progress: snapshot.current_call.is_some(),
    };
    ApiResponse::text(200, context.bot.metrics().render(&gauges))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bot::BotState;
    use crate::calls::{CallLog, CallLogSettings};

    fn snapshot(phase: BotPhase, last: Option<&str>) -> BotSnapshot {
        let (bot, _rx) = BotState::new(
            "/dev/ttyUSB2".into(),
            CallLog::new(CallLogSettings {
                path: "/nonexistent/calls.jsonl".into(),
                max_bytes: 4096,
                keep: 1,
            }),
        );
        bot.update(|s| {
            s.phase = phase;
            s.last_modem_answer = last.map(str::to_owned);
        });
        bot.snapshot()
    }

    fn at(t: &str) -> jiff::Timestamp {
        t.parse().unwrap()
    }

    #[test]
    fn only_home_and_roaming_count_as_registered() {
        for word in ["home", "roaming"] {
            assert!(registered(word), "{word}");
        }
        for word in [
            "searching",
            "not_registered",
            "denied",
            "unknown",
            "other_6",
        ] {
            assert!(!registered(word), "{word}");
        }
    }

    #[test]
    fn healthy_only_while_running_with_an_answer_within_two_periods() {
        let period = Duration::from_secs(30);
        let now = at("2026-12-07T12:01:00Z");
        let running = |last| health(&snapshot(BotPhase::Running, last), period, now);
        assert_eq!(running(Some("2026-12-07T12:00:59Z")), Ok(()));
        assert_eq!(running(Some("2026-12-07T12:00:00Z")), Ok(()));
        assert_eq!(
            running(Some("2026-12-07T11:59:59Z")),
            Err(Unhealthy::NotAnswering(Some("2026-12-07T11:59:59Z".into())))
        );
        assert_eq!(running(None), Err(Unhealthy::NotAnswering(None)));
        let fresh = Some("2026-12-07T12:00:59Z");
        for (phase, why) in [
            (BotPhase::Starting, "starting"),
            (BotPhase::Reconnecting, "reconnecting"),
            (BotPhase::Stopping, "stopping"),
        ] {
            let got = health(&snapshot(phase, fresh), period, now).map_err(|e| e.reason());
            assert_eq!(got, Err(why.to_string()));
        }
        assert_eq!(
            Unhealthy::NotAnswering(Some("2026-12-07T11:59:59Z".into())).reason(),
            "modem not answering since 2026-12-07T11:59:59Z"
        );
    }
}
