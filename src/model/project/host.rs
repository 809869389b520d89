//! ESXi hosts (`HostSystem`) -> canonical agents: what the collector requests of a host, and
//! its projection.

use super::{owned, time, Pass};
use serde_json::Value;

use crate::model::identity::{normalize_hostname, normalize_ips, normalize_mac, normalize_uuid};
use crate::model::paths::{fields, key, Keep, Kind};
use crate::model::raw::RawObject;
use crate::model::resources::{Agent, HostHardware, HostIdentity, QuickStats};
use crate::model::{status, topology};

/// The host's quick statistics: only what projection reads of them.
const QUICK_STATS: Keep = Keep {
    require: None,
    keys: &[
        ("overallCpuUsage", None),
        ("overallMemoryUsage", None),
        ("uptime", None),
    ],
};

const VNIC_IP: Keep = Keep {
    require: None,
    keys: &[("ipAddress", None)],
};

const VNIC_SPEC: Keep = Keep {
    require: None,
    keys: &[("ip", Some(&VNIC_IP)), ("mac", None)],
};

/// Of each VMkernel NIC only its address and MAC: the management identity other sources
/// (agents on the host, CMDBs) know the host by.
const VNIC: Keep = Keep {
    require: None,
    keys: &[("spec", Some(&VNIC_SPEC))],
};

/// What the collector requests of every host.
pub const KIND: Kind = Kind {
    name: "HostSystem",
    paths: &[
        "name",
        "parent",
        "runtime.connectionState",
        "runtime.powerState",
        "runtime.inMaintenanceMode",
        "runtime.bootTime",
        "summary.hardware",
        "summary.config.product",
        "summary.quickStats",
        "hardware.systemInfo.uuid",
        "config.network.vnic",
        "vm",
        "datastore",
        "triggeredAlarmState",
        "overallStatus",
    ],
    keep: &[
        ("summary.quickStats", QUICK_STATS),
        ("config.network.vnic", VNIC),
    ],
};

fields!(FIELDS for [&KIND] {
    NAME = "name";
    PARENT = "parent";
    CONNECTION_STATE = "runtime.connectionState";
    POWER_STATE = "runtime.powerState";
    IN_MAINTENANCE = "runtime.inMaintenanceMode";
    BOOT_TIME = "runtime.bootTime";
    VENDOR = "summary.hardware.vendor";
    MODEL = "summary.hardware.model";
    CPU_MODEL = "summary.hardware.cpuModel";
    CPU_MHZ = "summary.hardware.cpuMhz";
    CPU_CORES = "summary.hardware.numCpuCores";
    CPU_THREADS = "summary.hardware.numCpuThreads";
    MEMORY_SIZE = "summary.hardware.memorySize";
    SUMMARY_UUID = "summary.hardware.uuid";
    ESXI_VERSION = "summary.config.product.version";
    ESXI_BUILD = "summary.config.product.build";
    /// MHz in use.
    CPU_USAGE = "summary.quickStats.overallCpuUsage";
    /// MiB in use.
    MEMORY_USAGE = "summary.quickStats.overallMemoryUsage";
    UPTIME = "summary.quickStats.uptime";
    SYSTEM_UUID = "hardware.systemInfo.uuid";
    /// VMkernel NICs.
    VNICS = "config.network.vnic";
    VMS = "vm";
    DATASTORES = "datastore";
    OVERALL_STATUS = "overallStatus";
});

const VNIC_SPEC_KEY: &str = key(&VNIC, "spec");
const SPEC_IP: &str = key(&VNIC_SPEC, "ip");
const SPEC_MAC: &str = key(&VNIC_SPEC, "mac");
const IP_ADDRESS: &str = key(&VNIC_IP, "ipAddress");

/// The addresses and MACs of the host's VMkernel NICs, normalised.
fn vmkernel_identity(o: &RawObject) -> (Vec<String>, Vec<String>) {
    let specs: Vec<&Value> = o
        .array(VNICS)
        .iter()
        .filter_map(|n| n.get(VNIC_SPEC_KEY))
        .collect();
    let ips = normalize_ips(
        specs
            .iter()
            .filter_map(|s| s.get(SPEC_IP)?.get(IP_ADDRESS)?.as_str()),
    );
    let mut macs: Vec<String> = specs
        .iter()
        .filter_map(|s| s.get(SPEC_MAC)?.as_str())
        .filter_map(normalize_mac)
        .collect();
    macs.sort();
    macs.dedup();
    (ips, macs)
}

impl Pass<'_> {
    pub(super) fn agent(&self, moid: &str, o: &RawObject) -> (Agent, QuickStats) {
        let alerts = self.alerts_of(moid, o);
        let placement = self.placement(topology::host_placement(&self.around.topo, o.moid(PARENT)));
        let hw = HostHardware {
            vendor: owned(o.str(VENDOR)),
            model: owned(o.str(MODEL)),
            cpu_model: owned(o.str(CPU_MODEL)),
            cpu_mhz: o.i64(CPU_MHZ),
            cpu_cores: o.i64(CPU_CORES),
            cpu_threads: o.i64(CPU_THREADS),
            memory_bytes: o.i64(MEMORY_SIZE),
            esxi_version: owned(o.str(ESXI_VERSION)),
            esxi_build: owned(o.str(ESXI_BUILD)),
        };
        let cpu_capacity = hw
            .cpu_mhz
            .zip(hw.cpu_cores)
            .map(|(m, c)| m * c)
            .filter(|c| *c > 0);
        let cpu_used = o.i64(CPU_USAGE);
        let mem_used = o.i64(MEMORY_USAGE).map(|mb| mb * 1024 * 1024);
        let quick = QuickStats {
            cpu_percent: cpu_used
                .zip(cpu_capacity)
                .map(|(u, c)| u as f64 * 100.0 / c as f64),
            memory_percent: mem_used
                .zip(hw.memory_bytes.filter(|m| *m > 0))
                .map(|(u, m)| u as f64 * 100.0 / m as f64),
            memory_used_bytes: mem_used,
            uptime_seconds: o.i64(UPTIME),
        };
        let in_maintenance = o.bool(IN_MAINTENANCE).unwrap_or(false);
        let name = o.str(NAME).unwrap_or(moid).to_string();
        let (ips, macs) = vmkernel_identity(o);
        let agent = Agent {
            id: self.id(moid),
            moid: moid.to_string(),
            status: status::host_status(
                o.str(CONNECTION_STATE),
                o.str(POWER_STATE),
                in_maintenance,
                Self::worst(&alerts),
            ),
            connection_state: owned(o.str(CONNECTION_STATE)),
            power_state: owned(o.str(POWER_STATE)),
            in_maintenance,
            overall_status: owned(o.str(OVERALL_STATUS)),
            boot_time: time(o.get(BOOT_TIME)),
            identity: HostIdentity {
                hardware_uuid: o
                    .str(SYSTEM_UUID)
                    .or_else(|| o.str(SUMMARY_UUID))
                    .and_then(normalize_uuid),
                hostname: normalize_hostname(&name),
                ips,
                macs,
            },
            hardware: hw,
            context_alerts: self.context_alerts(&[o.moid(PARENT)]),
            placement,
            vm_ids: o.moids(VMS).into_iter().map(|v| self.id(v)).collect(),
            datastore_ids: o
                .moids(DATASTORES)
                .into_iter()
                .map(|d| self.id(d))
                .collect(),
            alerts,
            tags: self.tags(moid),
            name,
        };
        (agent, quick)
    }
}
