//! Home Assistant MQTT discovery, sans-I/O: the retained config messages that make one
//! modem a device in Home Assistant (identifiers = its IMEI), each with the fields HA's
//! MQTT discovery documents for its component, all reading the bot's topics
//! ([`super::topics`]) and all with the bot's `availability` topic (so that the last
//! will greys them out when the bot dies).
//!
//! Per modem: sensors (signal, network, state, call, last caller, SMS received/sent/failed), an
//! event entity for calls and one for SMS, a button that hangs up, and, when
//! `notify_to` is set, a notify entity whose message is sent as an SMS to that number.
//! Topics: `<discovery_prefix>/<component>/sim7600_<imei>/<object>/config`.

use serde_json::{Value, json};

use super::topics::{EventGroup, Topics};

/// The device as Home Assistant shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The IMEI (the device's identifier).
    pub imei: String,
    /// The model (`SIMCOM_SIM7600G-H`).
    pub model: String,
    /// The manufacturer.
    pub manufacturer: String,
    /// The firmware revision.
    pub revision: Option<String>,
}

/// One discovery message.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveryMessage {
    /// The component (`sensor`, `event`, `button`, `notify`).
    pub component: &'static str,
    /// Its config topic.
    pub topic: String,
    /// Its JSON.
    pub payload: Value,
}

/// The fields HA documents as required for `component` (those without a default).
pub fn required_fields(component: &str) -> &'static [&'static str] {
    match component {
        "sensor" => &["state_topic"],
        "event" => &["state_topic", "event_types"],
        "button" | "notify" => &["command_topic"],
        _ => &[],
    }
}

/// Every discovery message for the modem.
pub fn messages(
    discovery_prefix: &str,
    topics: &Topics,
    device: &DeviceInfo,
    notify_to: Option<&str>,
) -> Vec<DiscoveryMessage> {
    let node = format!("sim7600_{}", device.imei);
    let dev = json!({
        "identifiers": [device.imei],
        "name": format!("SIM7600 {}", device.imei),
        "manufacturer": device.manufacturer,
        "model": device.model,
        "sw_version": device.revision,
        "serial_number": device.imei,
    });
    let origin = json!({
        "name": "sim7600",
        "sw_version": env!("CARGO_PKG_VERSION"),
    });
    let make = |component: &'static str, object: &str, mut fields: Value| {
        if let Value::Object(map) = &mut fields {
            map.insert("unique_id".into(), Value::from(format!("{node}_{object}")));
            map.insert("object_id".into(), Value::from(format!("{node}_{object}")));
            map.insert(
                "availability_topic".into(),
                Value::from(topics.availability()),
            );
            map.insert("payload_available".into(), Value::from("online"));
            map.insert("payload_not_available".into(), Value::from("offline"));
            map.insert("device".into(), dev.clone());
            map.insert("origin".into(), origin.clone());
        }
        DiscoveryMessage {
            component,
            topic: format!("{discovery_prefix}/{component}/{node}/{object}/config"),
            payload: fields,
        }
    };
    let state = topics.state();
    let mut out = vec![
        make(
            "sensor",
            "signal",
            json!({
                "name": "Signal",
                "state_topic": state,
                "value_template": "{{ value_json.signal_dbm }}",
                "device_class": "signal_strength",
                "unit_of_measurement": "dBm",
                "state_class": "measurement",
                "entity_category": "diagnostic",
            }),
        ),
        make(
            "sensor",
            "network",
            json!({
                "name": "Network",
                "state_topic": state,
                "value_template": "{{ value_json.network or 'unknown' }}",
                "icon": "mdi:signal-cellular-3",
            }),
        ),
        make(
            "sensor",
            "state",
            json!({
                "name": "State",
                "state_topic": state,
                "value_template": "{{ value_json.phase }}",
                "icon": "mdi:cellphone-link",
            }),
        ),
        make(
            "sensor",
            "call",
            json!({
                "name": "Call",
                "state_topic": state,
                "value_template": "{{ value_json.call }}",
                "icon": "mdi:phone",
            }),
        ),
        make(
            "sensor",
            "last_caller",
            json!({
                "name": "Last caller",
                "state_topic": state,
                "value_template": "{{ value_json.last_caller or '' }}",
                "icon": "mdi:phone-incoming",
            }),
        ),
    ];
    for (object, name, key, icon) in [
        (
            "sms_received",
            "SMS received",
            "sms_received",
            "mdi:message-arrow-left",
        ),
        (
            "sms_sent",
            "SMS sent",
            "sms_sent",
            "mdi:message-arrow-right",
        ),
        (
            "sms_failed",
            "SMS failed",
            "sms_failed",
            "mdi:message-alert",
        ),
    ] {
        out.push(make(
            "sensor",
            object,
            json!({
                "name": name,
                "state_topic": state,
                "value_template": format!("{{{{ value_json.{key} }}}}"),
                "state_class": "total_increasing",
                "icon": icon,
            }),
        ));
    }
    for (object, name, group) in [
        ("calls", "Calls", EventGroup::Call),
        ("sms", "SMS", EventGroup::Sms),
    ] {
        out.push(make(
            "event",
            object,
            json!({
                "name": name,
                "state_topic": topics.events(group),
                "event_types": group.event_types(),
            }),
        ));
    }
    out.push(make(
        "button",
        "hang_up",
        json!({
            "name": "Hang up",
            "command_topic": topics.call_hangup(),
            "payload_press": "hangup",
            "icon": "mdi:phone-hangup",
        }),
    ));
    if let Some(to) = notify_to {
        // HA's notify entity sends the message as `value`; the template makes the
        // `sms/send` request for the configured number.
        let to_json = Value::from(to).to_string();
        out.push(make(
            "notify",
            "send_sms",
            json!({
                "name": format!("SMS to {to}"),
                "command_topic": topics.sms_send(),
                "command_template": format!("{{\"to\": {to_json}, \"text\": {{{{ value | tojson }}}}}}"),
                "icon": "mdi:message-text",
            }),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> DeviceInfo {
        DeviceInfo {
            imei: "351602000330570".into(),
            model: "SIMCOM_SIM7600G-H".into(),
            manufacturer: "SIMCOM INCORPORATED".into(),
            revision: Some("LE20B04SIM7600M22".into()),
        }
    }

    #[test]
    fn every_message_has_its_components_required_fields_and_the_device() {
        let topics = Topics::new("sim7600", "351602000330570");
        let all = messages("homeassistant", &topics, &device(), Some("+491761234567"));
        let components: Vec<_> = all.iter().map(|m| m.component).collect();
        for c in ["sensor", "event", "button", "notify"] {
            assert!(components.contains(&c), "{c} missing");
        }
        for m in &all {
            for f in required_fields(m.component) {
                assert!(m.payload.get(*f).is_some(), "{}: no {f}", m.topic);
            }
            assert_eq!(m.payload["device"]["identifiers"][0], "351602000330570");
            assert_eq!(
                m.payload["availability_topic"],
                "sim7600/351602000330570/availability"
            );
            assert!(m.topic.starts_with("homeassistant/"), "{}", m.topic);
            assert!(m.topic.ends_with("/config"));
        }
        let ids: std::collections::HashSet<_> = all
            .iter()
            .map(|m| m.payload["unique_id"].to_string())
            .collect();
        assert_eq!(ids.len(), all.len(), "unique ids are unique");
    }

    #[test]
    fn the_notify_template_makes_an_sms_send_request() {
        let topics = Topics::new("sim7600", "1");
        let all = messages("homeassistant", &topics, &device(), Some("+4917"));
        let notify = all.iter().find(|m| m.component == "notify").unwrap();
        assert_eq!(
            notify.payload["command_template"],
            "{\"to\": \"+4917\", \"text\": {{ value | tojson }}}"
        );
        assert!(
            messages("homeassistant", &topics, &device(), None)
                .iter()
                .all(|m| m.component != "notify")
        );
    }
}
