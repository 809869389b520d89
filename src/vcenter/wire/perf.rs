//! PerformanceManager types.

use serde::Deserialize;
use serde_json::Value;

use super::{null_as_empty, MoRef};

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PerfCounterInfo {
    pub key: i64,
    pub name_info: ElementDescription,
    pub group_info: ElementDescription,
    #[serde(default)]
    pub unit_info: Option<ElementDescription>,
    #[serde(default)]
    pub rollup_type: String,
    #[serde(default)]
    pub stats_type: String,
    /// The statistics level (1-4) from which vCenter keeps this counter in history.
    #[serde(default)]
    pub level: Option<i32>,
}

impl PerfCounterInfo {
    /// `group.name.rollup`, e.g. `cpu.usage.average`: the only stable way to name a counter.
    pub fn full_name(&self) -> String {
        format!(
            "{}.{}.{}",
            self.group_info.key, self.name_info.key, self.rollup_type
        )
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ElementDescription {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub label: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PerfInterval {
    #[serde(default)]
    pub key: i64,
    pub sampling_period: i64,
    #[serde(default)]
    pub length: i64,
    /// The statistics level the interval collects at (vCenter's default is 1).
    #[serde(default)]
    pub level: Option<i32>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PerfMetricId {
    pub counter_id: i64,
    #[serde(default)]
    pub instance: String,
}

/// `PerfEntityMetric` (normal format; the CSV variant is not requested by this client).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PerfEntityMetric {
    pub entity: MoRef,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub sample_info: Vec<PerfSampleInfo>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub value: Vec<PerfMetricSeries>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PerfSampleInfo {
    pub timestamp: String,
    #[serde(default)]
    pub interval: i64,
}

/// `PerfMetricIntSeries`; other series types keep an empty value list rather than failing.
#[derive(Clone, Debug, Deserialize)]
pub struct PerfMetricSeries {
    pub id: PerfMetricId,
    #[serde(default)]
    pub value: Value,
}

impl PerfMetricSeries {
    pub fn values(&self) -> Vec<i64> {
        self.value
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default()
    }
}
