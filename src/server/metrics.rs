//! Prometheus text exposition of the service's own gauges and counters. Written by hand: a
//! dozen series do not justify a metrics registry dependency.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use chrono::Utc;

use super::{Counters, Gate};
use crate::connections::Registry;
use crate::inventory::ConnectionState;

fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', " ")
}

/// Renders every metric.
pub fn render(registry: &Registry, counters: &Counters) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP pulse_vsphere_graphql_requests_total GraphQL requests served."
    );
    let _ = writeln!(out, "# TYPE pulse_vsphere_graphql_requests_total counter");
    let _ = writeln!(
        out,
        "pulse_vsphere_graphql_requests_total {}",
        counters.graphql_requests.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP pulse_vsphere_graphql_errors_total GraphQL responses carrying errors."
    );
    let _ = writeln!(out, "# TYPE pulse_vsphere_graphql_errors_total counter");
    let _ = writeln!(
        out,
        "pulse_vsphere_graphql_errors_total {}",
        counters.graphql_errors.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP pulse_vsphere_graphql_refused_total GraphQL requests refused before execution or cut by a cap."
    );
    let _ = writeln!(out, "# TYPE pulse_vsphere_graphql_refused_total counter");
    let _ = writeln!(
        out,
        "pulse_vsphere_graphql_refused_total {}",
        counters.graphql_refused.load(Ordering::Relaxed)
    );
    let _ = writeln!(out, "# HELP pulse_vsphere_vcenter_calls_total vCenter calls by connection, API family, call and HTTP status (0 = no response).");
    let _ = writeln!(out, "# TYPE pulse_vsphere_vcenter_calls_total counter");
    let _ = writeln!(
        out,
        "# HELP pulse_vsphere_vcenter_call_seconds_total Time spent in vCenter calls."
    );
    let _ = writeln!(
        out,
        "# TYPE pulse_vsphere_vcenter_call_seconds_total counter"
    );
    for conn in registry.connections() {
        let Some(stats) = conn.call_stats() else {
            continue;
        };
        for ((family, call, status), (n, secs)) in stats.snapshot() {
            let labels = format!(
                "connection=\"{}\",family=\"{}\",call=\"{}\",status=\"{status}\"",
                label(conn.spec().id()),
                label(&family),
                label(&call)
            );
            let _ = writeln!(out, "pulse_vsphere_vcenter_calls_total{{{labels}}} {n}");
            let _ = writeln!(
                out,
                "pulse_vsphere_vcenter_call_seconds_total{{{labels}}} {secs:.6}"
            );
        }
    }
    render_budgets(&mut out, registry);
    let _ = writeln!(
        out,
        "# HELP pulse_vsphere_connection_up 1 when the connection is healthy or degraded."
    );
    let _ = writeln!(out, "# TYPE pulse_vsphere_connection_up gauge");
    let slots = registry.slots();
    for slot in &slots {
        let h = slot.health();
        let up = matches!(
            h.state,
            ConnectionState::Healthy | ConnectionState::Degraded
        );
        let _ = writeln!(
            out,
            "pulse_vsphere_connection_up{{connection=\"{}\"}} {}",
            label(&slot.id),
            u8::from(up)
        );
    }
    let _ = writeln!(
        out,
        "# HELP pulse_vsphere_resources Resources in the latest snapshot."
    );
    let _ = writeln!(out, "# TYPE pulse_vsphere_resources gauge");
    let _ = writeln!(
        out,
        "# HELP pulse_vsphere_snapshot_age_seconds Age of the latest snapshot."
    );
    let _ = writeln!(out, "# TYPE pulse_vsphere_snapshot_age_seconds gauge");
    for slot in &slots {
        let Some(s) = slot.snapshot() else { continue };
        let id = label(&slot.id);
        for (kind, n) in [
            ("agent", s.agents.len()),
            ("vm", s.vms.len()),
            ("storage", s.storage.len()),
        ] {
            let _ = writeln!(
                out,
                "pulse_vsphere_resources{{connection=\"{id}\",kind=\"{kind}\"}} {n}"
            );
        }
        let age = s.age(Utc::now()).num_milliseconds() as f64 / 1000.0;
        let _ = writeln!(
            out,
            "pulse_vsphere_snapshot_age_seconds{{connection=\"{id}\"}} {age}"
        );
    }
    out
}

/// Each connection's on-demand budget: its settings, what it holds, what it spent and refused.
fn render_budgets(out: &mut String, registry: &Registry) {
    let budgets: Vec<(String, crate::ondemand::BudgetStatus)> = registry
        .connections()
        .iter()
        .filter_map(|c| Some((label(c.spec().id()), c.ondemand()?.budget())))
        .collect();
    type Value = fn(&crate::ondemand::BudgetStatus) -> f64;
    let series: [(&str, &str, &str, Value); 7] = [
        (
            "ondemand_budget_calls_per_second",
            "gauge",
            "Calls per second the connection's on-demand reads may make (config [ondemand]).",
            |b| f64::from(b.settings.calls_per_second),
        ),
        (
            "ondemand_budget_burst",
            "gauge",
            "Most calls one request may make.",
            |b| f64::from(b.settings.burst),
        ),
        (
            "ondemand_budget_concurrent_calls",
            "gauge",
            "On-demand calls allowed in flight at once.",
            |b| f64::from(b.settings.concurrent_calls),
        ),
        (
            "ondemand_budget_available_calls",
            "gauge",
            "Calls the budget holds now.",
            |b| b.available.floor(),
        ),
        (
            "ondemand_calls_in_flight",
            "gauge",
            "On-demand reads running now.",
            |b| b.in_flight as f64,
        ),
        (
            "ondemand_calls_total",
            "counter",
            "vCenter calls on-demand reads paid for.",
            |b| b.calls as f64,
        ),
        (
            "ondemand_refused_total",
            "counter",
            "On-demand reads refused by the budget before any call.",
            |b| b.refused as f64,
        ),
    ];
    for (name, kind, help, value) in series {
        let _ = writeln!(out, "# HELP pulse_vsphere_{name} {help}");
        let _ = writeln!(out, "# TYPE pulse_vsphere_{name} {kind}");
        for (id, b) in &budgets {
            let _ = writeln!(
                out,
                "pulse_vsphere_{name}{{connection=\"{id}\"}} {}",
                value(b)
            );
        }
    }
}

/// The execution slots: how many GraphQL executions run and how many slots are free.
pub fn render_gate(gate: &Gate) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP pulse_vsphere_graphql_executions_running GraphQL executions running on a thread."
    );
    let _ = writeln!(out, "# TYPE pulse_vsphere_graphql_executions_running gauge");
    let _ = writeln!(
        out,
        "pulse_vsphere_graphql_executions_running {}",
        gate.running()
    );
    let _ = writeln!(
        out,
        "# HELP pulse_vsphere_graphql_execution_slots_free Execution slots free."
    );
    let _ = writeln!(
        out,
        "# TYPE pulse_vsphere_graphql_execution_slots_free gauge"
    );
    let _ = writeln!(
        out,
        "pulse_vsphere_graphql_execution_slots_free {}",
        gate.available()
    );
    out
}
