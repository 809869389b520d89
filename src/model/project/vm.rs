//! Virtual machines (`VirtualMachine`) -> canonical VMs: what the collector requests of a VM,
//! what it keeps of the large properties, and the projection.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{owned, time, Pass};
use crate::model::identity::{
    normalize_hostname, normalize_ips, normalize_mac, normalize_uuid, smbios_byte_order,
};
use crate::model::paths::{fields, key, Keep, Kind};
use crate::model::raw::{moid_of, RawObject};
use crate::model::resources::{
    DatastoreUsage, GuestFilesystem, GuestInfo, QuickStats, SnapshotNode, Vm, VmIdentity,
};
use crate::model::{status, topology};

/// Of the devices only NICs, and of them only the MAC.
const DEVICE: Keep = Keep {
    require: Some(("macAddress", &[])),
    keys: &[("macAddress", None)],
};

const GUEST_NIC: Keep = Keep {
    require: None,
    keys: &[("macAddress", None), ("ipAddress", None)],
};

const GUEST_DISK: Keep = Keep {
    require: None,
    keys: &[
        ("diskPath", None),
        ("capacity", None),
        ("freeSpace", None),
        ("filesystemType", None),
    ],
};

const GUEST: Keep = Keep {
    require: None,
    keys: &[
        ("guestFamily", None),
        ("guestFullName", None),
        ("guestId", None),
        ("hostName", None),
        ("ipAddress", None),
        ("toolsStatus", None),
        ("toolsRunningStatus", None),
        ("toolsVersion", None),
        ("net", Some(&GUEST_NIC)),
        ("disk", Some(&GUEST_DISK)),
    ],
};

const QUICK_STATS: Keep = Keep {
    require: None,
    keys: &[
        ("overallCpuUsage", None),
        ("guestMemoryUsage", None),
        ("hostMemoryUsage", None),
        ("uptimeSeconds", None),
    ],
};

/// Of the VM's files only the snapshots' data and memory files, each one's key and size (the
/// disks, logs and configuration are most of the list and no snapshot's size); of the snapshot
/// layouts which files hold each snapshot's data and memory.
const LAYOUT_FILE: Keep = Keep {
    require: Some(("type", &["snapshotData", "snapshotMemory"])),
    keys: &[("key", None), ("size", None)],
};

const LAYOUT_SNAPSHOT: Keep = Keep {
    require: None,
    keys: &[("key", None), ("dataKey", None), ("memoryKey", None)],
};

/// What the collector requests of every VM. `config.hardware.device` and `guest` are most of
/// what vCenter sends for a VM; they are reduced at ingest to the declared keys.
pub const KIND: Kind = Kind {
    name: "VirtualMachine",
    paths: &[
        "name",
        "parent",
        "resourcePool",
        "runtime.host",
        "runtime.powerState",
        "runtime.connectionState",
        "runtime.bootTime",
        "runtime.maxCpuUsage",
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
        "layoutEx.file",
        "layoutEx.snapshot",
        "triggeredAlarmState",
        "overallStatus",
    ],
    keep: &[
        ("config.hardware.device", DEVICE),
        ("guest", GUEST),
        ("summary.quickStats", QUICK_STATS),
        ("layoutEx.file", LAYOUT_FILE),
        ("layoutEx.snapshot", LAYOUT_SNAPSHOT),
    ],
};

fields!(FIELDS for [&KIND] {
    NAME = "name";
    PARENT = "parent";
    RESOURCE_POOL = "resourcePool";
    HOST = "runtime.host";
    POWER_STATE = "runtime.powerState";
    CONNECTION_STATE = "runtime.connectionState";
    BOOT_TIME = "runtime.bootTime";
    /// MHz the VM may use at most.
    MAX_CPU_USAGE = "runtime.maxCpuUsage";
    BIOS_UUID = "config.uuid";
    INSTANCE_UUID = "config.instanceUuid";
    CONFIG_GUEST_ID = "config.guestId";
    CONFIG_GUEST_NAME = "config.guestFullName";
    TEMPLATE = "config.template";
    NUM_CPU = "config.hardware.numCPU";
    MEMORY_MB = "config.hardware.memoryMB";
    DEVICES = "config.hardware.device";
    GUEST_FAMILY = "guest.guestFamily";
    GUEST_NAME = "guest.guestFullName";
    GUEST_ID = "guest.guestId";
    GUEST_HOSTNAME = "guest.hostName";
    GUEST_IP = "guest.ipAddress";
    TOOLS_STATUS = "guest.toolsStatus";
    TOOLS_RUNNING = "guest.toolsRunningStatus";
    TOOLS_VERSION = "guest.toolsVersion";
    GUEST_NICS = "guest.net";
    GUEST_DISKS = "guest.disk";
    DATASTORE_USAGE = "storage.perDatastoreUsage";
    /// MHz in use.
    CPU_USAGE = "summary.quickStats.overallCpuUsage";
    /// MiB the guest uses.
    GUEST_MEMORY = "summary.quickStats.guestMemoryUsage";
    /// MiB the host gives the VM.
    HOST_MEMORY = "summary.quickStats.hostMemoryUsage";
    UPTIME = "summary.quickStats.uptimeSeconds";
    DATASTORES = "datastore";
    NETWORKS = "network";
    CURRENT_SNAPSHOT = "snapshot.currentSnapshot";
    ROOT_SNAPSHOTS = "snapshot.rootSnapshotList";
    /// The VM's files (`VirtualMachineFileLayoutExFileInfo`).
    FILES = "layoutEx.file";
    /// Per snapshot, the keys of its data and memory files.
    SNAPSHOT_LAYOUTS = "layoutEx.snapshot";
    OVERALL_STATUS = "overallStatus";
});

const DEVICE_MAC: &str = key(&DEVICE, "macAddress");
const NIC_MAC: &str = key(&GUEST_NIC, "macAddress");
const NIC_IPS: &str = key(&GUEST_NIC, "ipAddress");
const DISK_PATH: &str = key(&GUEST_DISK, "diskPath");
const DISK_CAPACITY: &str = key(&GUEST_DISK, "capacity");
const DISK_FREE: &str = key(&GUEST_DISK, "freeSpace");
const DISK_FILESYSTEM: &str = key(&GUEST_DISK, "filesystemType");
const FILE_KEY: &str = key(&LAYOUT_FILE, "key");
const FILE_SIZE: &str = key(&LAYOUT_FILE, "size");
const LAYOUT_KEY: &str = key(&LAYOUT_SNAPSHOT, "key");
const DATA_KEY: &str = key(&LAYOUT_SNAPSHOT, "dataKey");
const MEMORY_KEY: &str = key(&LAYOUT_SNAPSHOT, "memoryKey");

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

impl Pass<'_> {
    pub(super) fn vm(&self, moid: &str, o: &RawObject) -> (Vm, QuickStats) {
        let alerts = self.alerts_of(moid, o);
        let host = o.moid(HOST);
        let host_parent = host
            .and_then(|h| self.around.host_parents.get(h))
            .map(String::as_str);
        let placement = self.placement(topology::vm_placement(
            &self.around.topo,
            o.moid(PARENT),
            host_parent,
            o.moid(RESOURCE_POOL),
        ));
        let guest = guest_info(o);
        let tools = guest.tools_running();
        let mut macs: Vec<String> = o
            .array(DEVICES)
            .iter()
            .filter_map(|d| d.get(DEVICE_MAC).and_then(Value::as_str))
            .chain(
                o.array(GUEST_NICS)
                    .iter()
                    .filter_map(|n| n.get(NIC_MAC).and_then(Value::as_str)),
            )
            .filter_map(normalize_mac)
            .collect();
        macs.sort();
        macs.dedup();
        let ips = if tools {
            let listed = o
                .array(GUEST_NICS)
                .iter()
                .flat_map(|n| {
                    n.get(NIC_IPS)
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default()
                })
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect::<Vec<_>>();
            normalize_ips(listed.iter().map(String::as_str).chain(o.str(GUEST_IP)))
        } else {
            Vec::new()
        };
        let bios = o.str(BIOS_UUID).and_then(normalize_uuid);
        let (snapshots, count, oldest) = snapshot_tree(o);
        let memory_mib = o.i64(MEMORY_MB);
        let cpu_used = o.i64(CPU_USAGE);
        let guest_mem = o.i64(GUEST_MEMORY);
        let quick = QuickStats {
            cpu_percent: cpu_used
                .zip(o.i64(MAX_CPU_USAGE).filter(|m| *m > 0))
                .map(|(u, m)| u as f64 * 100.0 / m as f64),
            memory_percent: guest_mem
                .zip(memory_mib.filter(|m| *m > 0))
                .map(|(u, m)| u as f64 * 100.0 / m as f64),
            memory_used_bytes: o.i64(HOST_MEMORY).map(|mb| mb * 1024 * 1024),
            uptime_seconds: o.i64(UPTIME),
        };
        let usage = o
            .array(DATASTORE_USAGE)
            .iter()
            .filter_map(|u| {
                Some(DatastoreUsage {
                    datastore_id: self.id(u.get("datastore").and_then(moid_of)?),
                    committed_bytes: u.get("committed").and_then(Value::as_i64).unwrap_or(0),
                    uncommitted_bytes: u.get("uncommitted").and_then(Value::as_i64).unwrap_or(0),
                    unshared_bytes: u.get("unshared").and_then(Value::as_i64).unwrap_or(0),
                })
            })
            .collect::<Vec<_>>();
        // Datastores listed without usage rows (usage not yet computed by vCenter) still count.
        let mut datastore_usage = usage;
        for ds in o.moids(DATASTORES) {
            let id = self.id(ds);
            if !datastore_usage.iter().any(|u| u.datastore_id == id) {
                datastore_usage.push(DatastoreUsage {
                    datastore_id: id,
                    committed_bytes: 0,
                    uncommitted_bytes: 0,
                    unshared_bytes: 0,
                });
            }
        }
        let vm = Vm {
            id: self.id(moid),
            moid: moid.to_string(),
            name: o.str(NAME).unwrap_or(moid).to_string(),
            status: status::vm_status(
                o.str(CONNECTION_STATE),
                o.str(POWER_STATE),
                Self::worst(&alerts),
            ),
            power_state: owned(o.str(POWER_STATE)),
            connection_state: owned(o.str(CONNECTION_STATE)),
            overall_status: owned(o.str(OVERALL_STATUS)),
            template: o.bool(TEMPLATE).unwrap_or(false),
            boot_time: time(o.get(BOOT_TIME)),
            num_cpu: o.i64(NUM_CPU),
            memory_mib,
            identity: VmIdentity {
                instance_uuid: o.str(INSTANCE_UUID).and_then(normalize_uuid),
                bios_uuid_smbios: bios.as_deref().and_then(smbios_byte_order),
                bios_uuid: bios,
                hostname: if tools {
                    guest.hostname.as_deref().and_then(normalize_hostname)
                } else {
                    None
                },
                ips,
                macs,
            },
            guest,
            host_id: host.map(|h| self.id(h)),
            datastore_usage,
            networks: o
                .moids(NETWORKS)
                .into_iter()
                .map(|n| self.network_name(n))
                .collect(),
            context_alerts: self.context_alerts(&[o.moid(PARENT), host_parent]),
            placement,
            snapshots,
            snapshot_count: count,
            oldest_snapshot: oldest,
            alerts,
            tags: self.tags(moid),
        };
        (vm, quick)
    }
}

fn guest_info(o: &RawObject) -> GuestInfo {
    let filesystems = o
        .array(GUEST_DISKS)
        .iter()
        .filter_map(|d| {
            Some(GuestFilesystem {
                path: d.get(DISK_PATH)?.as_str()?.to_string(),
                capacity_bytes: d.get(DISK_CAPACITY).and_then(Value::as_i64),
                free_bytes: d.get(DISK_FREE).and_then(Value::as_i64),
                filesystem: text(d, DISK_FILESYSTEM),
            })
        })
        .collect();
    GuestInfo {
        os_family: owned(o.str(GUEST_FAMILY)),
        os_name: owned(o.str(GUEST_NAME).or_else(|| o.str(CONFIG_GUEST_NAME))),
        guest_id: owned(o.str(GUEST_ID).or_else(|| o.str(CONFIG_GUEST_ID))),
        hostname: owned(o.str(GUEST_HOSTNAME)),
        ip_address: owned(o.str(GUEST_IP)),
        tools_status: owned(o.str(TOOLS_STATUS)),
        tools_running_status: owned(o.str(TOOLS_RUNNING)),
        tools_version: owned(o.str(TOOLS_VERSION)),
        filesystems,
    }
}

/// Bytes on disk of each snapshot vCenter lays out: its data file plus its memory file (a
/// `memoryKey` of -1 or a file not listed adds nothing). Delta disks are not counted: the
/// layout gives them per disk chain, not per snapshot the vSphere Client shows.
fn snapshot_sizes(o: &RawObject) -> HashMap<String, i64> {
    let sizes: HashMap<i64, i64> = o
        .array(FILES)
        .iter()
        .filter_map(|f| Some((f.get(FILE_KEY)?.as_i64()?, f.get(FILE_SIZE)?.as_i64()?)))
        .collect();
    let size_of = |l: &Value, key: &str| {
        l.get(key)
            .and_then(Value::as_i64)
            .and_then(|k| sizes.get(&k).copied())
    };
    o.array(SNAPSHOT_LAYOUTS)
        .iter()
        .filter_map(|l| {
            let moid = l.get(LAYOUT_KEY).and_then(moid_of)?.to_string();
            let data = size_of(l, DATA_KEY)?;
            Some((moid, data + size_of(l, MEMORY_KEY).unwrap_or(0)))
        })
        .collect()
}

/// The snapshot tree, its size and its oldest creation time.
fn snapshot_tree(o: &RawObject) -> (Vec<SnapshotNode>, usize, Option<DateTime<Utc>>) {
    let current = o.moid(CURRENT_SNAPSHOT).map(str::to_string);
    let sizes = snapshot_sizes(o);
    struct Walk<'a> {
        current: Option<String>,
        sizes: &'a HashMap<String, i64>,
        count: usize,
        oldest: Option<DateTime<Utc>>,
    }
    fn walk(list: &[Value], w: &mut Walk<'_>, depth: usize) -> Vec<SnapshotNode> {
        // Snapshot chains are at most 32 deep in vSphere; deeper means bad data.
        if depth > 64 {
            return Vec::new();
        }
        list.iter()
            .filter_map(|n| {
                let moid = n.get("snapshot").and_then(moid_of)?.to_string();
                w.count += 1;
                let created = time(n.get("createTime"));
                if let Some(c) = created {
                    if w.oldest.is_none_or(|o| c < o) {
                        w.oldest = Some(c);
                    }
                }
                let children = n
                    .get("childSnapshotList")
                    .and_then(Value::as_array)
                    .map(|c| walk(c, w, depth + 1))
                    .unwrap_or_default();
                Some(SnapshotNode {
                    current: w.current.as_deref() == Some(moid.as_str()),
                    name: text(n, "name").unwrap_or_default(),
                    description: text(n, "description"),
                    created,
                    state: text(n, "state"),
                    quiesced: n.get("quiesced").and_then(Value::as_bool).unwrap_or(false),
                    size_bytes: w.sizes.get(&moid).copied(),
                    children,
                    moid,
                })
            })
            .collect()
    }
    let mut w = Walk {
        current,
        sizes: &sizes,
        count: 0,
        oldest: None,
    };
    let roots = walk(o.array(ROOT_SNAPSHOTS), &mut w, 0);
    (roots, w.count, w.oldest)
}
