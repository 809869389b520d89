//! The property paths the collector asks vCenter for, per managed object type: exactly what
//! projection reads, so a full sync and the change feed fetch nothing more.

/// (managed object type, property paths).
pub const PROPERTY_PATHS: &[(&str, &[&str])] = &[
    (
        "HostSystem",
        &[
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
            "vm",
            "datastore",
            "triggeredAlarmState",
            "overallStatus",
        ],
    ),
    (
        "VirtualMachine",
        &[
            "name",
            "parent",
            "resourcePool",
            "runtime.host",
            "runtime.powerState",
            "runtime.connectionState",
            "runtime.bootTime",
            "runtime.maxCpuUsage",
            "runtime.maxMemoryUsage",
            "config.uuid",
            "config.instanceUuid",
            "config.guestId",
            "config.guestFullName",
            "config.template",
            "config.hardware.numCPU",
            "config.hardware.memoryMB",
            "config.hardware.device",
            "guest",
            "storage.perDatastoreUsage",
            "summary.quickStats",
            "datastore",
            "network",
            "snapshot",
            "triggeredAlarmState",
            "overallStatus",
        ],
    ),
    (
        "Datastore",
        &[
            "name",
            "parent",
            "summary",
            "host",
            "vm",
            "triggeredAlarmState",
            "overallStatus",
        ],
    ),
    (
        "ClusterComputeResource",
        &[
            "name",
            "parent",
            "configurationEx.dasConfig.enabled",
            "configurationEx.drsConfig.enabled",
            "triggeredAlarmState",
            "overallStatus",
        ],
    ),
    ("ComputeResource", &["name", "parent"]),
    (
        "Datacenter",
        &["name", "parent", "triggeredAlarmState", "overallStatus"],
    ),
    ("Folder", &["name", "parent"]),
    ("ResourcePool", &["name", "parent"]),
    ("Network", &["name"]),
];

/// The paths for `kind` (empty for types we do not collect).
pub fn paths_for(kind: &str) -> &'static [&'static str] {
    PROPERTY_PATHS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, p)| *p)
        .unwrap_or(&[])
}

/// Every type the collector watches.
pub fn collected_types() -> impl Iterator<Item = &'static str> {
    PROPERTY_PATHS.iter().map(|(k, _)| *k)
}
