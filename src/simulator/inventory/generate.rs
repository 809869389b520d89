//! Deterministic inventory generation from a seed: datacenters (one in a nested folder),
//! clusters with HA/DRS flags, standalone hosts, resource pool trees, VMFS/NFS/vSAN datastores
//! shared inside a cluster, networks, VMs with power states, guests (Tools running for most),
//! snapshot trees, tags and triggered alarms.

use chrono::{Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::events::{alarm_event, event_about, vm_context, ALARMS};
use super::objects::{self, DatastoreSpec, HostSpec, VmSpec};
use super::{Inventory, ManagedObject, MoRef, Tag, TagCategory};
use crate::simulator::alarms;
use crate::simulator::config::{ApiRelease, InventorySize};

/// Hosts per cluster, a common production size.
const CLUSTER_SIZE: usize = 16;

/// Guest operating systems: (guestId, full name, family). vSphere names Windows Server 2022
/// `windows2019srvNext_64Guest`; `windows2022srvNext_64Guest` is Server 2025.
const GUESTS: &[(&str, &str, &str)] = &[
    ("ubuntu64Guest", "Ubuntu Linux (64-bit)", "linuxGuest"),
    (
        "rhel9_64Guest",
        "Red Hat Enterprise Linux 9 (64-bit)",
        "linuxGuest",
    ),
    (
        "debian12_64Guest",
        "Debian GNU/Linux 12 (64-bit)",
        "linuxGuest",
    ),
    (
        "windows2019srv_64Guest",
        "Microsoft Windows Server 2019 (64-bit)",
        "windowsGuest",
    ),
    (
        "windows2019srvNext_64Guest",
        "Microsoft Windows Server 2022 (64-bit)",
        "windowsGuest",
    ),
];

struct Gen {
    inv: Inventory,
    rng: StdRng,
    seed: u64,
    release: ApiRelease,
}

impl Gen {
    fn add(&mut self, kind: &str, prefix: &str, props: serde_json::Map<String, Value>) -> MoRef {
        let id = self.inv.new_id(prefix);
        let moref = MoRef::new(kind, id);
        self.inv.insert(ManagedObject {
            moref: moref.clone(),
            props,
        });
        moref
    }

    fn folder(&mut self, prefix: &str, name: &str, parent: &MoRef, child: &[&str]) -> MoRef {
        let f = self.add("Folder", prefix, objects::folder(name, parent, child));
        self.inv.push_to(&parent.value, "childEntity", f.to_json());
        f
    }
}

/// Splits `total` into `parts` near-equal shares.
fn shares(total: usize, parts: usize) -> Vec<usize> {
    let parts = parts.max(1);
    (0..parts)
        .map(|i| total / parts + usize::from(i < total % parts))
        .collect()
}

struct ClusterOut {
    hosts: Vec<MoRef>,
    datastores: Vec<MoRef>,
    pools: Vec<MoRef>,
}

/// Builds the inventory for `size` from `seed`.
pub fn generate(seed: u64, size: InventorySize, release: ApiRelease) -> Inventory {
    let mut g = Gen {
        inv: Inventory::default(),
        rng: StdRng::seed_from_u64(seed),
        seed,
        release,
    };
    g.inv.next_id = 0;
    let root = MoRef::new("Folder", "group-d1");
    g.inv.insert(ManagedObject {
        moref: root.clone(),
        props: objects::folder("Datacenters", &root, &["Folder", "Datacenter"]),
    });
    if let Some(r) = g.inv.get_mut("group-d1") {
        r.props.remove("parent");
    }
    g.inv.root_folder = Some(root.clone());
    g.inv.next_id = 1;

    make_alarms(&mut g, &root);
    make_tag_catalog(&mut g);

    let host_shares = shares(size.hosts, size.datacenters);
    let vm_shares = shares(size.vms, size.datacenters);
    let ds_shares = shares(size.datastores, size.datacenters);
    let regions = if size.datacenters > 1 {
        Some(g.folder("group-d", "Regions", &root, &["Folder", "Datacenter"]))
    } else {
        None
    };
    for d in 0..size.datacenters {
        let parent = match (&regions, d) {
            (Some(r), d) if d > 0 => r.clone(),
            _ => root.clone(),
        };
        build_datacenter(
            &mut g,
            d,
            &parent,
            host_shares[d],
            vm_shares[d],
            ds_shares[d],
        );
    }
    trigger_alarms(&mut g);
    seed_history(&mut g);
    g.inv
}

fn make_alarms(g: &mut Gen, root: &MoRef) {
    for (i, (system, name, _)) in ALARMS.iter().enumerate() {
        let id = format!("alarm-{}", i + 1);
        let moref = MoRef::new("Alarm", &id);
        let mut props = serde_json::Map::new();
        props.insert(
            "info".into(),
            json!({
                "_typeName": "AlarmInfo",
                "key": id,
                "name": name,
                "systemName": system,
                "description": format!("Default alarm to monitor {}", name.to_lowercase()),
                "enabled": true,
                "entity": root.to_json(),
                "alarm": moref.to_json(),
                "actionFrequency": 0,
                "setting": {"_typeName": "AlarmSetting", "toleranceRange": 0, "reportingFrequency": 300},
                "expression": {"_typeName": "OrAlarmExpression", "expression": []},
                "lastModifiedTime": objects::ts(Utc::now() - Duration::days(400)),
                "lastModifiedUser": "VSPHERE.LOCAL\\Administrator",
                "creationEventId": 0,
            }),
        );
        g.inv.insert(ManagedObject { moref, props });
    }
}

fn make_tag_catalog(g: &mut Gen) {
    let cats = [
        (
            "Environment",
            &["production", "development", "test"][..],
            "SINGLE",
        ),
        (
            "Owner",
            &["team-platform", "team-data", "team-web"][..],
            "SINGLE",
        ),
        ("Backup", &["daily", "weekly"][..], "MULTIPLE"),
    ];
    for (ci, (name, tags, card)) in cats.iter().enumerate() {
        let cid = format!(
            "urn:vmomi:InventoryServiceCategory:{}:GLOBAL",
            objects::uuid_from(g.seed, 50, ci as u64)
        );
        g.inv.tagging.categories.insert(
            cid.clone(),
            TagCategory {
                id: cid.clone(),
                name: name.to_string(),
                description: format!("{name} of the workload"),
                cardinality: card,
                associable_types: Vec::new(),
            },
        );
        for (ti, t) in tags.iter().enumerate() {
            let tid = format!(
                "urn:vmomi:InventoryServiceTag:{}:GLOBAL",
                objects::uuid_from(g.seed, 51 + ci as u64, ti as u64)
            );
            g.inv.tagging.tags.insert(
                tid.clone(),
                Tag {
                    id: tid,
                    category_id: cid.clone(),
                    name: t.to_string(),
                    description: String::new(),
                },
            );
        }
    }
}

fn tag_ids_of(g: &Gen, category: &str) -> Vec<String> {
    let Some(cat) = g
        .inv
        .tagging
        .categories
        .values()
        .find(|c| c.name == category)
    else {
        return Vec::new();
    };
    g.inv
        .tagging
        .tags
        .values()
        .filter(|t| t.category_id == cat.id)
        .map(|t| t.id.clone())
        .collect()
}

fn build_datacenter(g: &mut Gen, d: usize, parent: &MoRef, hosts: usize, vms: usize, dss: usize) {
    let dc_name = format!("DC-{:02}", d + 1);
    let dc = g.add("Datacenter", "datacenter-", serde_json::Map::new());
    g.inv.push_to(&parent.value, "childEntity", dc.to_json());
    let vm_folder = g.folder(
        "group-v",
        "vm",
        &dc,
        &["Folder", "VirtualMachine", "VirtualApp"],
    );
    let host_folder = g.folder("group-h", "host", &dc, &["Folder", "ComputeResource"]);
    let ds_folder = g.folder(
        "group-s",
        "datastore",
        &dc,
        &["Folder", "Datastore", "StoragePod"],
    );
    let net_folder = g.folder(
        "group-n",
        "network",
        &dc,
        &["Folder", "Network", "DistributedVirtualSwitch"],
    );
    if let Some(o) = g.inv.get_mut(&dc.value) {
        o.props.insert("name".into(), json!(dc_name));
        o.props.insert("parent".into(), parent.to_json());
        o.props.insert("vmFolder".into(), vm_folder.to_json());
        o.props.insert("hostFolder".into(), host_folder.to_json());
        o.props
            .insert("datastoreFolder".into(), ds_folder.to_json());
        o.props.insert("networkFolder".into(), net_folder.to_json());
        o.props.insert("triggeredAlarmState".into(), json!([]));
        o.props.insert("overallStatus".into(), json!("green"));
        o.props.insert("datastore".into(), json!([]));
        o.props.insert("network".into(), json!([]));
    }
    // VM folders two levels deep, so folder paths are worth showing.
    let prod = g.folder(
        "group-v",
        "Production",
        &vm_folder,
        &["Folder", "VirtualMachine"],
    );
    let web = g.folder("group-v", "web", &prod, &["Folder", "VirtualMachine"]);
    let db = g.folder("group-v", "db", &prod, &["Folder", "VirtualMachine"]);
    let dev = g.folder(
        "group-v",
        "Development",
        &vm_folder,
        &["Folder", "VirtualMachine"],
    );
    let infra = g.folder(
        "group-v",
        "Infrastructure",
        &vm_folder,
        &["Folder", "VirtualMachine"],
    );
    let vm_folders = [web, db, dev, infra];

    let networks: Vec<MoRef> = ["VM Network", "VLAN-101", "VLAN-102", "VLAN-103"]
        .iter()
        .map(|n| {
            let mut p = serde_json::Map::new();
            p.insert("name".into(), json!(n));
            p.insert("parent".into(), net_folder.to_json());
            p.insert("host".into(), json!([]));
            p.insert("vm".into(), json!([]));
            p.insert("overallStatus".into(), json!("green"));
            p.insert("triggeredAlarmState".into(), json!([]));
            let net = g.add("Network", "network-", p);
            if let Some(o) = g.inv.get_mut(&net.value) {
                let s = json!({"_typeName": "NetworkSummary", "network": net.to_json(), "name": n, "accessible": true});
                o.props.insert("summary".into(), s);
            }
            g.inv.push_to(&net_folder.value, "childEntity", net.to_json());
            g.inv.push_to(&dc.value, "network", net.to_json());
            net
        })
        .collect();

    let standalone = if hosts <= 1 {
        hosts
    } else {
        (hosts / 25).max(1)
    };
    let clustered = hosts - standalone;
    let n_clusters = clustered.div_ceil(CLUSTER_SIZE);
    let cluster_hosts = shares(clustered, n_clusters);
    let shared_ds = dss.saturating_sub(standalone).max(n_clusters);
    let cluster_ds = shares(shared_ds, n_clusters);
    // Half the clusters sit in a site folder, so host folder paths vary too.
    let site = if n_clusters > 1 {
        Some(g.folder(
            "group-h",
            &format!("Site-{}", d + 1),
            &host_folder,
            &["Folder", "ComputeResource"],
        ))
    } else {
        None
    };

    let mut placements: Vec<(MoRef, Vec<MoRef>, Vec<MoRef>)> = Vec::new();
    for c in 0..n_clusters {
        let parent = match (&site, c % 2) {
            (Some(s), 1) => s.clone(),
            _ => host_folder.clone(),
        };
        let out = build_cluster(
            g,
            d,
            c,
            &parent,
            &ds_folder,
            &dc,
            &networks,
            cluster_hosts[c],
            cluster_ds[c],
        );
        for h in &out.hosts {
            placements.push((h.clone(), out.datastores.clone(), out.pools.clone()));
        }
    }
    for s in 0..standalone {
        let (h, ds, pools) = build_standalone(g, d, s, &host_folder, &ds_folder, &dc, &networks);
        placements.push((h, ds, pools));
    }

    let env_tags = tag_ids_of(g, "Environment");
    let owner_tags = tag_ids_of(g, "Owner");
    let backup_tags = tag_ids_of(g, "Backup");
    for i in 0..vms {
        if placements.is_empty() {
            break;
        }
        let (host, ds, pools) = placements[i % placements.len()].clone();
        let role = i % 4;
        let folder = vm_folders[role].clone();
        let pool = pools[role.min(pools.len() - 1)].clone();
        let net = networks[i % networks.len()].clone();
        let vm_ref = build_vm(g, d, i, &folder, &host, &pool, &ds, &net, role);
        let mut tags = vec![env_tags[role % env_tags.len()].clone()];
        tags.push(owner_tags[i % owner_tags.len()].clone());
        if role < 2 {
            tags.push(backup_tags[i % backup_tags.len()].clone());
        }
        g.inv.tagging.attached.insert(vm_ref, tags);
    }
}

#[allow(clippy::too_many_arguments)]
fn build_cluster(
    g: &mut Gen,
    d: usize,
    c: usize,
    parent: &MoRef,
    ds_folder: &MoRef,
    dc: &MoRef,
    networks: &[MoRef],
    n_hosts: usize,
    n_ds: usize,
) -> ClusterOut {
    let name = format!("Cluster-{:02}-{:02}", d + 1, c + 1);
    let ha = c % 3 != 2;
    let drs = c % 2 == 0;
    let vsan = c % 4 == 1;
    let cluster = g.add("ClusterComputeResource", "domain-c", serde_json::Map::new());
    g.inv
        .push_to(&parent.value, "childEntity", cluster.to_json());
    let root_rp = add_pool(g, "Resources", &cluster, &cluster);
    let prod = add_pool(g, "Production", &root_rp, &cluster);
    let tier1 = add_pool(g, "Tier-1", &prod, &cluster);
    let devp = add_pool(g, "Development", &root_rp, &cluster);
    let mut hosts = Vec::new();
    for h in 0..n_hosts {
        let host_name = format!("esx-{:02}-{:02}-{:02}.lab.local", d + 1, c + 1, h + 1);
        hosts.push(add_host(g, &host_name, &cluster));
    }
    let mut datastores = Vec::new();
    for k in 0..n_ds {
        let (ty, label) = if k == 0 && vsan {
            ("vsan", "vsanDatastore")
        } else if k % 3 == 2 {
            ("NFS", "nfs")
        } else {
            ("VMFS", "vmfs")
        };
        let ds_name = format!("{label}-{:02}-{:02}-{:02}", d + 1, c + 1, k + 1);
        datastores.push(add_datastore(g, &ds_name, ty, ds_folder, dc, &hosts));
    }
    for h in &hosts {
        let refs: Vec<Value> = datastores.iter().map(MoRef::to_json).collect();
        let nets: Vec<Value> = networks.iter().map(MoRef::to_json).collect();
        if let Some(o) = g.inv.get_mut(&h.value) {
            o.props.insert("datastore".into(), Value::Array(refs));
            o.props.insert("network".into(), Value::Array(nets));
        }
        for n in networks {
            g.inv.push_to(&n.value, "host", h.to_json());
        }
    }
    let total_mhz: i64 = 2000 * 32 * hosts.len() as i64;
    let total_mem: i64 = 512 * 1024 * 1024 * 1024 * hosts.len() as i64;
    if let Some(o) = g.inv.get_mut(&cluster.value) {
        let p = &mut o.props;
        p.insert("name".into(), json!(name));
        p.insert("parent".into(), parent.to_json());
        p.insert("host".into(), objects::refs(&hosts));
        p.insert("datastore".into(), objects::refs(&datastores));
        p.insert("network".into(), objects::refs(networks));
        p.insert("resourcePool".into(), root_rp.to_json());
        p.insert("triggeredAlarmState".into(), json!([]));
        p.insert("overallStatus".into(), json!("green"));
        p.insert(
            "summary".into(),
            json!({
                "_typeName": "ClusterComputeResourceSummary",
                "totalCpu": total_mhz,
                "totalMemory": total_mem,
                "numCpuCores": 32 * hosts.len(),
                "numCpuThreads": 64 * hosts.len(),
                "effectiveCpu": total_mhz * 9 / 10,
                "effectiveMemory": total_mem / 1024 / 1024 * 9 / 10,
                "numHosts": hosts.len(),
                "numEffectiveHosts": hosts.len(),
                "overallStatus": "green",
                "currentFailoverLevel": if ha { 1 } else { 0 },
                "numVmotions": 0,
            }),
        );
        p.insert(
            "configurationEx".into(),
            json!({
                "_typeName": "ClusterConfigInfoEx",
                "vmSwapPlacement": "vmDirectory",
                "dasConfig": {
                    "_typeName": "ClusterDasConfigInfo",
                    "enabled": ha,
                    "vmMonitoring": "vmMonitoringDisabled",
                    "hostMonitoring": "enabled",
                    "failoverLevel": 1,
                    "admissionControlEnabled": ha,
                },
                "drsConfig": {
                    "_typeName": "ClusterDrsConfigInfo",
                    "enabled": drs,
                    "enableVmBehaviorOverrides": true,
                    "defaultVmBehavior": "fullyAutomated",
                    "vmotionRate": 3,
                },
                "vsanConfigInfo": {"_typeName": "VsanClusterConfigInfo", "enabled": vsan},
            }),
        );
    }
    ClusterOut {
        hosts,
        datastores,
        pools: vec![tier1, prod, devp, root_rp],
    }
}

fn build_standalone(
    g: &mut Gen,
    d: usize,
    s: usize,
    host_folder: &MoRef,
    ds_folder: &MoRef,
    dc: &MoRef,
    networks: &[MoRef],
) -> (MoRef, Vec<MoRef>, Vec<MoRef>) {
    let host_name = format!("esx-{:02}-s{:02}.lab.local", d + 1, s + 1);
    let cr = g.add("ComputeResource", "domain-s", serde_json::Map::new());
    g.inv
        .push_to(&host_folder.value, "childEntity", cr.to_json());
    let rp = add_pool(g, "Resources", &cr, &cr);
    let host = add_host(g, &host_name, &cr);
    let local = add_datastore(
        g,
        &format!("datastore-local-{:02}-{:02}", d + 1, s + 1),
        "VMFS",
        ds_folder,
        dc,
        std::slice::from_ref(&host),
    );
    let nets: Vec<Value> = networks.iter().map(MoRef::to_json).collect();
    if let Some(o) = g.inv.get_mut(&host.value) {
        o.props.insert("datastore".into(), json!([local.to_json()]));
        o.props.insert("network".into(), Value::Array(nets));
    }
    for n in networks {
        g.inv.push_to(&n.value, "host", host.to_json());
    }
    if let Some(o) = g.inv.get_mut(&cr.value) {
        let p = &mut o.props;
        p.insert("name".into(), json!(host_name));
        p.insert("parent".into(), host_folder.to_json());
        p.insert("host".into(), json!([host.to_json()]));
        p.insert("datastore".into(), json!([local.to_json()]));
        p.insert("network".into(), objects::refs(networks));
        p.insert("resourcePool".into(), rp.to_json());
        p.insert("triggeredAlarmState".into(), json!([]));
        p.insert("overallStatus".into(), json!("green"));
        p.insert(
            "summary".into(),
            json!({
                "_typeName": "ComputeResourceSummary",
                "totalCpu": 2000 * 32,
                "totalMemory": 512i64 * 1024 * 1024 * 1024,
                "numCpuCores": 32,
                "numCpuThreads": 64,
                "effectiveCpu": 2000 * 32 * 9 / 10,
                "effectiveMemory": 512 * 1024 * 9 / 10,
                "numHosts": 1,
                "numEffectiveHosts": 1,
                "overallStatus": "green",
            }),
        );
    }
    (host, vec![local], vec![rp])
}

fn add_pool(g: &mut Gen, name: &str, parent: &MoRef, owner: &MoRef) -> MoRef {
    let mut p = serde_json::Map::new();
    p.insert("name".into(), json!(name));
    p.insert("parent".into(), parent.to_json());
    p.insert("owner".into(), owner.to_json());
    p.insert("resourcePool".into(), json!([]));
    p.insert("vm".into(), json!([]));
    p.insert("overallStatus".into(), json!("green"));
    p.insert("triggeredAlarmState".into(), json!([]));
    let rp = g.add("ResourcePool", "resgroup-", p);
    if parent.kind == "ResourcePool" {
        g.inv.push_to(&parent.value, "resourcePool", rp.to_json());
    }
    rp
}

fn add_host(g: &mut Gen, name: &str, parent: &MoRef) -> MoRef {
    let id = g.inv.new_id("host-");
    let moref = MoRef::new("HostSystem", &id);
    let idx = g.inv.next_id;
    let boot = Utc::now() - Duration::seconds(g.rng.random_range(86_400..90 * 86_400));
    let props = objects::host(&HostSpec {
        moref: &moref,
        name,
        parent,
        hardware_uuid: objects::uuid_from(g.seed, 1, idx),
        cpu_mhz: 2000,
        cores: 32,
        memory_bytes: 512 * 1024 * 1024 * 1024,
        boot_time: boot,
        version: g.release.product_version(),
        build: g.release.build(),
    });
    g.inv.insert(ManagedObject {
        moref: moref.clone(),
        props,
    });
    moref
}

fn add_datastore(
    g: &mut Gen,
    name: &str,
    ty: &str,
    folder: &MoRef,
    dc: &MoRef,
    hosts: &[MoRef],
) -> MoRef {
    let id = g.inv.new_id("datastore-");
    let moref = MoRef::new("Datastore", &id);
    let tib: i64 = 1024 * 1024 * 1024 * 1024;
    let capacity = tib * g.rng.random_range(2..=16);
    let free = capacity * g.rng.random_range(15..=80) / 100;
    let url = match ty {
        "NFS" => format!(
            "ds:///vmfs/volumes/{}/",
            &objects::uuid_from(g.seed, 3, g.inv.next_id)[..17]
        ),
        "vsan" => format!(
            "ds:///vmfs/volumes/vsan:{}/",
            objects::uuid_from(g.seed, 3, g.inv.next_id).replace('-', "")
        ),
        _ => format!(
            "ds:///vmfs/volumes/{}/",
            objects::uuid_from(g.seed, 3, g.inv.next_id)
        ),
    };
    let props = objects::datastore(&DatastoreSpec {
        moref: &moref,
        name,
        parent: folder,
        ds_type: ty,
        capacity,
        free,
        url,
        hosts,
    });
    g.inv.insert(ManagedObject {
        moref: moref.clone(),
        props,
    });
    g.inv.push_to(&folder.value, "childEntity", moref.to_json());
    g.inv.push_to(&dc.value, "datastore", moref.to_json());
    moref
}

#[allow(clippy::too_many_arguments)]
fn build_vm(
    g: &mut Gen,
    d: usize,
    i: usize,
    folder: &MoRef,
    host: &MoRef,
    pool: &MoRef,
    host_ds: &[MoRef],
    net: &MoRef,
    role: usize,
) -> MoRef {
    let id = g.inv.new_id("vm-");
    let idx = g.inv.next_id;
    let moref = MoRef::new("VirtualMachine", &id);
    let prefix = ["web", "db", "dev", "infra"][role];
    let name = format!("{prefix}-{:02}-{:05}", d + 1, i + 1);
    let roll: f64 = g.rng.random();
    let power = if roll < 0.80 {
        "poweredOn"
    } else if roll < 0.95 {
        "poweredOff"
    } else {
        "suspended"
    };
    let tools = power == "poweredOn" && g.rng.random_bool(0.9);
    let (guest_id, full, family) = GUESTS[g.rng.random_range(0..GUESTS.len())];
    let gib: i64 = 1024 * 1024 * 1024;
    let disk = gib * [40, 80, 100, 200][g.rng.random_range(0..4)];
    let committed = disk * g.rng.random_range(20..90) / 100;
    let mut datastores = vec![host_ds[i % host_ds.len()].clone()];
    if host_ds.len() > 1 && i % 5 == 0 {
        datastores.push(host_ds[(i + 1) % host_ds.len()].clone());
    }
    let ip = format!("10.{}.{}.{}", d + 10, (idx / 250) % 250, idx % 250 + 2);
    let mac = format!(
        "00:50:56:{:02x}:{:02x}:{:02x}",
        (idx >> 16) & 0x3f,
        (idx >> 8) & 0xff,
        idx & 0xff
    );
    let boot = (power == "poweredOn")
        .then(|| Utc::now() - Duration::seconds(g.rng.random_range(600..60 * 86_400)));
    let spec = VmSpec {
        moref: &moref,
        name: &name,
        folder,
        host,
        resource_pool: pool,
        datastores: &datastores,
        network: net,
        power_state: power,
        bios_uuid: objects::uuid_from(g.seed, 4, idx),
        instance_uuid: objects::uuid_from(g.seed, 5, idx),
        guest_id,
        guest_full_name: full,
        guest_family: family,
        tools_running: tools,
        ip,
        mac,
        num_cpu: [1, 2, 4, 8][g.rng.random_range(0..4)],
        memory_mb: [2048, 4096, 8192, 16384][g.rng.random_range(0..4)],
        disk_bytes: disk,
        committed,
        boot_time: boot,
    };
    let mut props = objects::vm(&spec);
    if g.rng.random_bool(0.2) {
        let snapshots = make_snapshots(g, &moref, power);
        props.insert(
            "layoutEx".into(),
            objects::layout_ex(&props, Some(&snapshots)),
        );
        props.insert("snapshot".into(), snapshots);
    }
    g.inv.insert(ManagedObject {
        moref: moref.clone(),
        props,
    });
    let r = moref.to_json();
    g.inv.push_to(&folder.value, "childEntity", r.clone());
    g.inv.push_to(&host.value, "vm", r.clone());
    g.inv.push_to(&pool.value, "vm", r.clone());
    g.inv.push_to(&net.value, "vm", r.clone());
    for ds in &datastores {
        g.inv.push_to(&ds.value, "vm", r.clone());
    }
    moref
}

/// A snapshot chain with an occasional branch: 1-4 snapshots, the newest being current.
fn make_snapshots(g: &mut Gen, vm: &MoRef, power: &str) -> Value {
    let count = g.rng.random_range(1..=4);
    let now = Utc::now();
    let ages: Vec<i64> = {
        let mut a: Vec<i64> = (0..count)
            .map(|_| g.rng.random_range(3_600..120 * 86_400))
            .collect();
        a.sort_unstable_by(|x, y| y.cmp(x));
        a
    };
    let state = if power == "poweredOn" {
        "poweredOn"
    } else {
        "poweredOff"
    };
    let mut refs = Vec::new();
    for k in 0..count {
        refs.push(MoRef::new(
            "VirtualMachineSnapshot",
            format!("{}-snapshot-{}", vm.value, k + 1),
        ));
    }
    // Build the chain from the leaf up; the second snapshot gets a sibling branch when count = 4.
    let mut child: Vec<Value> = Vec::new();
    for k in (0..count).rev() {
        let name = match k {
            0 => "before-upgrade".to_string(),
            1 => "patch-window".to_string(),
            _ => format!("checkpoint-{}", k + 1),
        };
        let node = objects::snapshot_tree(
            &refs[k],
            vm,
            &name,
            (k + 1) as i64,
            now - Duration::seconds(ages[k]),
            state,
            k % 2 == 1,
            std::mem::take(&mut child),
        );
        child = vec![node];
    }
    json!({
        "_typeName": "VirtualMachineSnapshotInfo",
        "currentSnapshot": refs[count - 1].to_json(),
        "rootSnapshotList": child,
    })
}

/// Raises alarms: those with state behind them from that state (one datastore is filled past
/// the usage threshold so small inventories show one), the others at random, at least one of
/// each kind where the kind has such an alarm.
fn trigger_alarms(g: &mut Gen) {
    if let Some(ds) = g.inv.ids_of("Datastore").first().cloned() {
        let used = g.rng.random_range(78..=92);
        if let Some(o) = g.inv.get_mut(&ds) {
            let cap = o
                .get_path("summary.capacity")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let free = json!(cap * (100 - used) / 100);
            o.set_path("summary.freeSpace", free.clone());
            o.set_path("info.freeSpace", free);
        }
    }
    for kind in ["HostSystem", "VirtualMachine", "ClusterComputeResource"] {
        let candidates: Vec<MoRef> = ALARMS
            .iter()
            .enumerate()
            .filter(|(_, (system, _, target))| *target == kind && !alarms::follows_state(system))
            .map(|(i, _)| MoRef::new("Alarm", format!("alarm-{}", i + 1)))
            .collect();
        if candidates.is_empty() {
            continue;
        }
        // The only VM alarm without state to follow is snapshot age: VMs with snapshots.
        let ids: Vec<String> = g
            .inv
            .of_type(kind)
            .filter(|o| kind != "VirtualMachine" || o.get_path("snapshot").is_some())
            .map(|o| o.moref.value.clone())
            .collect();
        let rate = match kind {
            "HostSystem" => 0.05,
            "VirtualMachine" => 0.1,
            _ => 0.08,
        };
        for (n, id) in ids.iter().enumerate() {
            if n != 0 && !g.rng.random_bool(rate) {
                continue;
            }
            let alarm = candidates[g.rng.random_range(0..candidates.len())].clone();
            let status = if g.rng.random_bool(0.4) {
                "red"
            } else {
                "yellow"
            };
            let entity = MoRef::new(kind, id.clone());
            let when = Utc::now() - Duration::seconds(g.rng.random_range(60..7 * 86_400));
            let event_key = g
                .inv
                .push_event(alarm_event(&g.inv, &alarm, &entity, "green", status, when));
            let state = objects::alarm_state(&alarm, &entity, status, when, event_key);
            if let Some(o) = g.inv.get_mut(id) {
                o.props.insert("triggeredAlarmState".into(), json!([state]));
                o.props.insert("overallStatus".into(), json!(status));
                if let Some(s) = o.props.get_mut("summary").and_then(Value::as_object_mut) {
                    s.insert("overallStatus".into(), json!(status));
                }
            }
        }
    }
    alarms::settle_all(&mut g.inv, Utc::now());
    // Generation is the starting point, not a change a client could have missed.
    g.inv.changes.clear();
}

/// A little history so event queries are not empty on a fresh simulator.
fn seed_history(g: &mut Gen) {
    let vm_ids: Vec<String> = g
        .inv
        .ids_of("VirtualMachine")
        .iter()
        .take(200)
        .cloned()
        .collect();
    let now = Utc::now();
    for (n, id) in vm_ids.iter().enumerate() {
        let Some(obj) = g.inv.get(id) else { continue };
        let moref = obj.moref.clone();
        let on = obj.get_path("runtime.powerState").and_then(Value::as_str) == Some("poweredOn");
        let (ty, verb) = if on {
            ("VmPoweredOnEvent", "powered on")
        } else {
            ("VmPoweredOffEvent", "powered off")
        };
        let (name, host, dc) = vm_context(&g.inv, id);
        let when = now - Duration::seconds(3_600 + 30 * (200 - n as i64));
        let ev = event_about(
            &g.inv,
            ty,
            &moref,
            when,
            "VSPHERE.LOCAL\\Administrator",
            format!("{name} on {host} in {dc} is {verb}"),
        );
        g.inv.push_event(ev);
    }
}
