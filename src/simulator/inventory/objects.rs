//! Wire-form builders for each managed object type the simulator serves. Field names and
//! `_typeName`s follow the VI JSON schema (govmomi `vim25/types`); see
//! `../shared/specs/vi-json-8.0.1-subset.DERIVED.openapi.json`.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::MoRef;

/// Wire form of an optional MoRef list.
pub fn refs(list: &[MoRef]) -> Value {
    Value::Array(list.iter().map(MoRef::to_json).collect())
}

/// RFC 3339 with milliseconds and `Z`, as vCenter prints `xsd:dateTime`.
pub fn ts(t: DateTime<Utc>) -> Value {
    json!(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// A deterministic UUID string from a seed and a discriminator.
pub fn uuid_from(seed: u64, kind: u64, index: u64) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(kind.to_le_bytes());
    h.update(index.to_le_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    // RFC 4122 variant, version 4 layout, so parsers accept it.
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(b).to_string()
}

/// AlarmState wire form.
pub fn alarm_state(
    alarm: &MoRef,
    entity: &MoRef,
    status: &str,
    time: DateTime<Utc>,
    event_key: i64,
) -> Value {
    json!({
        "_typeName": "AlarmState",
        "key": format!("{}.{}", alarm.value, entity.value),
        "entity": entity.to_json(),
        "alarm": alarm.to_json(),
        "overallStatus": status,
        "time": ts(time),
        "acknowledged": false,
        "eventKey": event_key,
        "disabled": false,
    })
}

/// The worst `overallStatus` among triggered alarm states (`green` when none).
pub fn worst_status(states: &[Value]) -> &'static str {
    let mut worst = "green";
    for s in states {
        match s.get("overallStatus").and_then(Value::as_str) {
            Some("red") => return "red",
            Some("yellow") => worst = "yellow",
            _ => {}
        }
    }
    worst
}

/// Inputs for an ESXi host.
pub struct HostSpec<'a> {
    pub moref: &'a MoRef,
    pub name: &'a str,
    pub parent: &'a MoRef,
    pub hardware_uuid: String,
    pub cpu_mhz: i64,
    pub cores: i64,
    pub memory_bytes: i64,
    pub boot_time: DateTime<Utc>,
    pub version: &'a str,
    pub build: &'a str,
}

/// HostSystem properties.
pub fn host(spec: &HostSpec<'_>) -> serde_json::Map<String, Value> {
    let runtime = json!({
        "_typeName": "HostRuntimeInfo",
        "connectionState": "connected",
        "powerState": "poweredOn",
        "standbyMode": "none",
        "inMaintenanceMode": false,
        "inQuarantineMode": false,
        "bootTime": ts(spec.boot_time),
    });
    let product = json!({
        "_typeName": "AboutInfo",
        "name": "VMware ESXi",
        "fullName": format!("VMware ESXi {} build-{}", spec.version, spec.build),
        "vendor": "VMware, Inc.",
        "version": spec.version,
        "build": spec.build,
        "osType": "vmnix-x86",
        "productLineId": "embeddedEsx",
        "apiType": "HostAgent",
        "apiVersion": spec.version,
    });
    let hw_summary = json!({
        "_typeName": "HostHardwareSummary",
        "vendor": "Dell Inc.",
        "model": "PowerEdge R750",
        "uuid": spec.hardware_uuid,
        "memorySize": spec.memory_bytes,
        "cpuModel": "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",
        "cpuMhz": spec.cpu_mhz,
        "numCpuPkgs": 2,
        "numCpuCores": spec.cores,
        "numCpuThreads": spec.cores * 2,
        "numNics": 4,
        "numHBAs": 2,
    });
    let mut m = serde_json::Map::new();
    m.insert("name".into(), json!(spec.name));
    m.insert("parent".into(), spec.parent.to_json());
    m.insert("runtime".into(), runtime.clone());
    m.insert(
        "summary".into(),
        json!({
            "_typeName": "HostListSummary",
            "host": spec.moref.to_json(),
            "hardware": hw_summary,
            "runtime": runtime,
            "config": {
                "_typeName": "HostConfigSummary",
                "name": spec.name,
                "port": 443,
                "product": product,
                "vmotionEnabled": true,
                "faultToleranceEnabled": false,
            },
            "quickStats": {
                "_typeName": "HostListSummaryQuickStats",
                "overallCpuUsage": 0,
                "overallMemoryUsage": 0,
                "uptime": 0,
            },
            "overallStatus": "green",
            "rebootRequired": false,
            "managementServerIp": "10.0.0.10",
        }),
    );
    m.insert(
        "hardware".into(),
        json!({
            "_typeName": "HostHardwareInfo",
            "systemInfo": {
                "_typeName": "HostSystemInfo",
                "vendor": "Dell Inc.",
                "model": "PowerEdge R750",
                "uuid": spec.hardware_uuid,
                "serialNumber": format!("SN{}", &spec.hardware_uuid[..8].to_uppercase()),
            },
            "memorySize": spec.memory_bytes,
            "cpuInfo": {
                "_typeName": "HostCpuInfo",
                "numCpuPackages": 2,
                "numCpuCores": spec.cores,
                "numCpuThreads": spec.cores * 2,
                "hz": spec.cpu_mhz * 1_000_000,
            },
            "smcPresent": false,
        }),
    );
    m.insert("config".into(), host_config(spec));
    m.insert("vm".into(), json!([]));
    m.insert("datastore".into(), json!([]));
    m.insert("network".into(), json!([]));
    m.insert("triggeredAlarmState".into(), json!([]));
    m.insert("overallStatus".into(), json!("green"));
    m.insert("configStatus".into(), json!("green"));
    let layout = layout_ex(&m, None);
    m.insert("layoutEx".into(), layout);
    m
}

/// The host's `HostConfigInfo`, as far as clients read it: the VMkernel NICs (management on
/// vmk0, vMotion on vmk1), addresses and VMware-prefixed MACs derived from the host's moId so
/// every host's differ and stay the same across runs.
fn host_config(spec: &HostSpec<'_>) -> Value {
    let digits: String = spec
        .moref
        .value
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let id: u32 = digits.parse().unwrap_or(0) % 62_500;
    let (hi, lo) = (id / 250, id % 250 + 1);
    let vnic = |n: u8, portgroup: &str, net: u8| {
        json!({
            "_typeName": "HostVirtualNic",
            "device": format!("vmk{n}"),
            "key": format!("key-vim.host.VirtualNic-vmk{n}"),
            "portgroup": portgroup,
            "spec": {
                "_typeName": "HostVirtualNicSpec",
                "mac": format!("00:50:56:{:02x}:{:02x}:{:02x}", 0x60 + n, hi, lo),
                "mtu": 1500,
                "ip": {
                    "_typeName": "HostIpConfig",
                    "dhcp": false,
                    "ipAddress": format!("10.{net}.{hi}.{lo}"),
                    "subnetMask": "255.255.0.0",
                },
            },
        })
    };
    json!({
        "_typeName": "HostConfigInfo",
        "network": {
            "_typeName": "HostNetworkInfo",
            "vnic": [vnic(0, "Management Network", 20), vnic(1, "vMotion", 21)],
        },
    })
}

/// Inputs for a datastore.
pub struct DatastoreSpec<'a> {
    pub moref: &'a MoRef,
    pub name: &'a str,
    pub parent: &'a MoRef,
    /// `VMFS`, `NFS`, `NFS41`, `vsan`, `VVOL`.
    pub ds_type: &'a str,
    pub capacity: i64,
    pub free: i64,
    pub url: String,
    pub hosts: &'a [MoRef],
}

/// Datastore properties. `host` is `DatastoreHostMount[]`, not MoRefs (field lesson: Pulse's Go
/// provider decoded it wrongly).
pub fn datastore(spec: &DatastoreSpec<'_>) -> serde_json::Map<String, Value> {
    let mounts: Vec<Value> = spec
        .hosts
        .iter()
        .map(|h| {
            json!({
                "_typeName": "DatastoreHostMount",
                "key": h.to_json(),
                "mountInfo": {
                    "_typeName": "HostMountInfo",
                    "path": format!("/vmfs/volumes/{}", spec.name),
                    "accessMode": "readWrite",
                    "mounted": true,
                    "accessible": true,
                    "vmknicActive": false,
                },
            })
        })
        .collect();
    let info_type = match spec.ds_type {
        "VMFS" => "VmfsDatastoreInfo",
        "NFS" | "NFS41" => "NasDatastoreInfo",
        "vsan" => "VsanDatastoreInfo",
        "VVOL" => "VvolDatastoreInfo",
        _ => "DatastoreInfo",
    };
    let mut m = serde_json::Map::new();
    m.insert("name".into(), json!(spec.name));
    m.insert("parent".into(), spec.parent.to_json());
    m.insert(
        "summary".into(),
        json!({
            "_typeName": "DatastoreSummary",
            "datastore": spec.moref.to_json(),
            "name": spec.name,
            "url": spec.url,
            "capacity": spec.capacity,
            "freeSpace": spec.free,
            "uncommitted": 0,
            "accessible": true,
            "multipleHostAccess": spec.hosts.len() > 1,
            "type": spec.ds_type,
            "maintenanceMode": "normal",
        }),
    );
    m.insert(
        "info".into(),
        json!({
            "_typeName": info_type,
            "name": spec.name,
            "url": spec.url,
            "freeSpace": spec.free,
            "maxFileSize": 68_719_476_736i64,
            "maxVirtualDiskCapacity": 68_169_720_922_112i64,
            "containerId": spec.moref.value,
        }),
    );
    m.insert("host".into(), Value::Array(mounts));
    m.insert("vm".into(), json!([]));
    m.insert("triggeredAlarmState".into(), json!([]));
    m.insert("overallStatus".into(), json!("green"));
    m
}

/// Inputs for a virtual machine.
pub struct VmSpec<'a> {
    pub moref: &'a MoRef,
    pub name: &'a str,
    pub folder: &'a MoRef,
    pub host: &'a MoRef,
    pub resource_pool: &'a MoRef,
    pub datastores: &'a [MoRef],
    pub network: &'a MoRef,
    pub power_state: &'a str,
    pub bios_uuid: String,
    pub instance_uuid: String,
    pub guest_id: &'a str,
    pub guest_full_name: &'a str,
    pub guest_family: &'a str,
    pub tools_running: bool,
    pub ip: String,
    pub mac: String,
    pub num_cpu: i64,
    pub memory_mb: i64,
    pub disk_bytes: i64,
    pub committed: i64,
    pub boot_time: Option<DateTime<Utc>>,
}

/// GuestInfo for a VM: full when Tools runs, minimal otherwise (as vCenter reports it).
pub fn guest_info(spec: &VmSpec<'_>) -> Value {
    if spec.tools_running {
        json!({
            "_typeName": "GuestInfo",
            "toolsStatus": "toolsOk",
            "toolsVersionStatus2": "guestToolsCurrent",
            "toolsRunningStatus": "guestToolsRunning",
            "toolsVersion": "12416",
            "guestId": spec.guest_id,
            "guestFamily": spec.guest_family,
            "guestFullName": spec.guest_full_name,
            "hostName": spec.name.to_lowercase(),
            "ipAddress": spec.ip,
            "net": [{
                "_typeName": "GuestNicInfo",
                "network": "VM Network",
                "ipAddress": [spec.ip],
                "macAddress": spec.mac,
                "connected": true,
                "deviceConfigId": 4000,
            }],
            "disk": [{
                "_typeName": "GuestDiskInfo",
                "diskPath": if spec.guest_family == "windowsGuest" { "C:\\" } else { "/" },
                "capacity": spec.disk_bytes,
                "freeSpace": spec.disk_bytes / 2,
                "filesystemType": if spec.guest_family == "windowsGuest" { "NTFS" } else { "ext4" },
            }],
            "guestState": "running",
            "guestOperationsReady": true,
            "interactiveGuestOperationsReady": false,
        })
    } else {
        json!({
            "_typeName": "GuestInfo",
            "toolsStatus": "toolsNotRunning",
            "toolsRunningStatus": "guestToolsNotRunning",
            "toolsVersion": "12416",
            "guestState": "notRunning",
            "net": [],
            "disk": [],
        })
    }
}

/// VirtualMachine properties.
pub fn vm(spec: &VmSpec<'_>) -> serde_json::Map<String, Value> {
    let runtime = json!({
        "_typeName": "VirtualMachineRuntimeInfo",
        "host": spec.host.to_json(),
        "connectionState": "connected",
        "powerState": spec.power_state,
        "faultToleranceState": "notConfigured",
        "toolsInstallerMounted": false,
        "bootTime": spec.boot_time.map(ts),
        "maxCpuUsage": spec.num_cpu * 2000,
        "maxMemoryUsage": spec.memory_mb,
        "numMksConnections": 0,
        "recordReplayState": "inactive",
        "onlineStandby": false,
        "consolidationNeeded": false,
    });
    let guest = guest_info(spec);
    let per_ds: Vec<Value> = spec
        .datastores
        .iter()
        .enumerate()
        .map(|(i, ds)| {
            let share = if i == 0 {
                spec.committed
            } else {
                spec.committed / 8
            };
            json!({
                "_typeName": "VirtualMachineUsageOnDatastore",
                "datastore": ds.to_json(),
                "committed": share,
                "uncommitted": (spec.disk_bytes - share).max(0),
                "unshared": share,
            })
        })
        .collect();
    let vm_dir = format!(
        "[{}] {}/",
        spec.datastores
            .first()
            .map(|d| d.value.as_str())
            .unwrap_or("datastore"),
        spec.name
    );
    let mut m = serde_json::Map::new();
    m.insert("name".into(), json!(spec.name));
    m.insert("parent".into(), spec.folder.to_json());
    m.insert("resourcePool".into(), spec.resource_pool.to_json());
    m.insert("runtime".into(), runtime.clone());
    m.insert("guest".into(), guest.clone());
    m.insert(
        "config".into(),
        json!({
            "_typeName": "VirtualMachineConfigInfo",
            "name": spec.name,
            "guestFullName": spec.guest_full_name,
            "guestId": spec.guest_id,
            "version": "vmx-20",
            "uuid": spec.bios_uuid,
            "instanceUuid": spec.instance_uuid,
            "template": false,
            "annotation": "",
            "changeVersion": "2026-01-05T09:12:44.112233Z",
            "modified": "1970-01-01T00:00:00Z",
            "alternateGuestName": "",
            "files": {
                "_typeName": "VirtualMachineFileInfo",
                "vmPathName": format!("{vm_dir}{}.vmx", spec.name),
                "snapshotDirectory": vm_dir,
                "suspendDirectory": vm_dir,
                "logDirectory": vm_dir,
            },
            "flags": {
                "_typeName": "VirtualMachineFlagInfo",
                "enableLogging": true,
                "snapshotPowerOffBehavior": "powerOff",
                "cbrcCacheEnabled": false,
                "vvtdEnabled": false,
                "vbsEnabled": false,
            },
            "defaultPowerOps": {
                "_typeName": "VirtualMachineDefaultPowerOpInfo",
                "powerOffType": "soft",
                "suspendType": "hard",
                "resetType": "soft",
                "defaultPowerOffType": "soft",
                "defaultSuspendType": "hard",
                "defaultResetType": "soft",
                "standbyAction": "checkpoint",
            },
            "hardware": {
                "_typeName": "VirtualHardware",
                "numCPU": spec.num_cpu,
                "numCoresPerSocket": 1,
                "memoryMB": spec.memory_mb,
                "device": [{
                    "_typeName": "VirtualVmxnet3",
                    "key": 4000,
                    "deviceInfo": {"_typeName": "Description", "label": "Network adapter 1", "summary": "VM Network"},
                    "macAddress": spec.mac,
                    "addressType": "assigned",
                }, {
                    "_typeName": "VirtualDisk",
                    "key": 2000,
                    "deviceInfo": {"_typeName": "Description", "label": "Hard disk 1", "summary": format!("{} KB", spec.disk_bytes / 1024)},
                    "capacityInBytes": spec.disk_bytes,
                    "capacityInKB": spec.disk_bytes / 1024,
                }],
            },
        }),
    );
    m.insert(
        "summary".into(),
        json!({
            "_typeName": "VirtualMachineSummary",
            "vm": spec.moref.to_json(),
            "runtime": runtime,
            "guest": {
                "_typeName": "VirtualMachineGuestSummary",
                "guestId": guest.get("guestId"),
                "guestFullName": guest.get("guestFullName"),
                "toolsStatus": guest.get("toolsStatus"),
                "toolsRunningStatus": guest.get("toolsRunningStatus"),
                "hostName": guest.get("hostName"),
                "ipAddress": guest.get("ipAddress"),
            },
            "config": {
                "_typeName": "VirtualMachineConfigSummary",
                "name": spec.name,
                "template": false,
                "vmPathName": format!("[{}] {}/{}.vmx", spec.datastores.first().map(|d| d.value.as_str()).unwrap_or("datastore"), spec.name, spec.name),
                "memorySizeMB": spec.memory_mb,
                "numCpu": spec.num_cpu,
                "numEthernetCards": 1,
                "numVirtualDisks": 1,
                "uuid": spec.bios_uuid,
                "instanceUuid": spec.instance_uuid,
                "guestId": spec.guest_id,
                "guestFullName": spec.guest_full_name,
                "annotation": "",
            },
            "storage": {
                "_typeName": "VirtualMachineStorageSummary",
                "committed": spec.committed,
                "uncommitted": (spec.disk_bytes - spec.committed).max(0),
                "unshared": spec.committed,
                "timestamp": ts(Utc::now()),
            },
            "quickStats": {
                "_typeName": "VirtualMachineQuickStats",
                "overallCpuUsage": 0,
                "guestMemoryUsage": 0,
                "hostMemoryUsage": 0,
                "uptimeSeconds": 0,
                "guestHeartbeatStatus": if spec.tools_running { "green" } else { "gray" },
            },
            "overallStatus": "green",
        }),
    );
    m.insert(
        "storage".into(),
        json!({
            "_typeName": "VirtualMachineStorageInfo",
            "perDatastoreUsage": per_ds,
            "timestamp": ts(Utc::now()),
        }),
    );
    m.insert("datastore".into(), refs(spec.datastores));
    m.insert("network".into(), refs(std::slice::from_ref(spec.network)));
    m.insert("triggeredAlarmState".into(), json!([]));
    m.insert("overallStatus".into(), json!("green"));
    m.insert("configStatus".into(), json!("green"));
    let layout = layout_ex(&m, None);
    m.insert("layoutEx".into(), layout);
    m
}

/// Bytes of a snapshot's data file (`.vmsn`: the VM's configuration and the snapshot's
/// metadata, tens of KB), from the snapshot's id so a tree is laid out the same every time.
fn snapshot_data_bytes(id: i64) -> i64 {
    16 * 1024 + 1024 * id.rem_euclid(16)
}

/// A VM's `layoutEx` for its properties `vm` and its snapshot tree `snapshot`: the VM's files
/// with their sizes and, per snapshot, the files of its data and of its memory. A snapshot that
/// kept a running VM's memory (`state` poweredOn in the tree) has a `.vmem` the size of the VM's
/// memory; the others have `memoryKey` -1, as vCenter reports them.
pub fn layout_ex(vm: &serde_json::Map<String, Value>, snapshot: Option<&Value>) -> Value {
    let read = |path: &str| {
        let mut parts = path.split('.');
        let first = vm.get(parts.next().unwrap_or(""));
        parts.fold(first, |v, p| v.and_then(|v| v.get(p)))
    };
    let vmx = read("config.files.vmPathName")
        .and_then(Value::as_str)
        .unwrap_or("[datastore] vm/vm.vmx");
    let (dir, base) = match vmx.rsplit_once('/') {
        Some((dir, file)) => (format!("{dir}/"), file.trim_end_matches(".vmx").to_string()),
        None => (String::new(), vmx.trim_end_matches(".vmx").to_string()),
    };
    let memory_bytes = read("config.hardware.memoryMB")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        * 1024
        * 1024;
    let committed = read("summary.storage.committed")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let mut files = Vec::new();
    let mut file = |name: String, kind: &str, size: i64| {
        let key = files.len() as i64;
        files.push(json!({
            "_typeName": "VirtualMachineFileLayoutExFileInfo",
            "key": key, "name": name, "type": kind, "size": size, "uniqueSize": size,
            "accessible": true,
        }));
        key
    };
    file(format!("{dir}{base}.vmx"), "config", 3_412);
    file(format!("{dir}{base}.nvram"), "nvram", 270_840);
    let descriptor = file(format!("{dir}{base}.vmdk"), "diskDescriptor", 612);
    let extent = file(format!("{dir}{base}-flat.vmdk"), "diskExtent", committed);
    file(format!("{dir}vmware.log"), "log", 245_760);
    let mut nodes = Vec::new();
    fn walk<'a>(list: Option<&'a Value>, out: &mut Vec<&'a Value>) {
        for n in list.and_then(Value::as_array).into_iter().flatten() {
            out.push(n);
            walk(n.get("childSnapshotList"), out);
        }
    }
    walk(snapshot.and_then(|s| s.get("rootSnapshotList")), &mut nodes);
    let snapshots: Vec<Value> = nodes
        .into_iter()
        .map(|n| {
            let id = n.get("id").and_then(Value::as_i64).unwrap_or(0);
            let data = file(
                format!("{dir}{base}-Snapshot{id}.vmsn"),
                "snapshotData",
                snapshot_data_bytes(id),
            );
            let memory = if n.get("state").and_then(Value::as_str) == Some("poweredOn") {
                file(
                    format!("{dir}{base}-Snapshot{id}.vmem"),
                    "snapshotMemory",
                    memory_bytes,
                )
            } else {
                -1
            };
            json!({
                "_typeName": "VirtualMachineFileLayoutExSnapshotLayout",
                "key": n.get("snapshot"), "dataKey": data, "memoryKey": memory, "disk": [],
            })
        })
        .collect();
    json!({
        "_typeName": "VirtualMachineFileLayoutEx",
        "file": files,
        "disk": [{
            "_typeName": "VirtualMachineFileLayoutExDiskLayout",
            "key": 2000,
            "chain": [{"_typeName": "VirtualMachineFileLayoutExDiskUnit", "fileKey": [descriptor, extent]}],
        }],
        "snapshot": snapshots,
        "timestamp": ts(Utc::now()),
    })
}

/// One node of a snapshot tree.
#[allow(clippy::too_many_arguments)]
pub fn snapshot_tree(
    snapshot: &MoRef,
    vm: &MoRef,
    name: &str,
    id: i64,
    created: DateTime<Utc>,
    state: &str,
    quiesced: bool,
    children: Vec<Value>,
) -> Value {
    json!({
        "_typeName": "VirtualMachineSnapshotTree",
        "snapshot": snapshot.to_json(),
        "vm": vm.to_json(),
        "name": name,
        "description": format!("{name} taken by the simulator"),
        "id": id,
        "createTime": ts(created),
        "state": state,
        "quiesced": quiesced,
        "backupManifest": null,
        "childSnapshotList": children,
        "replaySupported": false,
    })
}

/// A plain folder.
pub fn folder(name: &str, parent: &MoRef, child_type: &[&str]) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("name".into(), json!(name));
    m.insert("parent".into(), parent.to_json());
    m.insert("childEntity".into(), json!([]));
    m.insert("childType".into(), json!(child_type));
    m.insert("triggeredAlarmState".into(), json!([]));
    m.insert("overallStatus".into(), json!("green"));
    m
}
