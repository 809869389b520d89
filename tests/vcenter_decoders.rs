//! Every decoder the vCenter client uses, fed hostile input: random bytes, random JSON,
//! type-confused and truncated versions of real bodies, oversized bodies. Decoders return an
//! error or tolerate the input, never panic; what vCenter really sends (unknown subtypes, absent
//! optional fields, `null` arrays, boxed `Any` values, enum values of a later release, extra
//! fields) keeps decoding.

mod common;

use chrono::Utc;
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use pulse_vsphere::collector::sync::{apply_updates, MALFORMED_VALUE};
use pulse_vsphere::model::project::{host, project, vm, ProjectionContext, Projector};
use pulse_vsphere::model::raw_inventory::RawInventory;
use pulse_vsphere::model::snapshot::InventorySnapshot;
use pulse_vsphere::simulator::{SimConfig, Simulator};
use pulse_vsphere::vcenter::any::unbox;
use pulse_vsphere::vcenter::client::classify_fault;
use pulse_vsphere::vcenter::wire::content::{AboutInfo, ServiceContent, UserSession};
use pulse_vsphere::vcenter::wire::events::{AlarmInfo, Event, TaskInfo};
use pulse_vsphere::vcenter::wire::fault::VimFault;
use pulse_vsphere::vcenter::wire::perf::{PerfCounterInfo, PerfEntityMetric, PerfInterval};
use pulse_vsphere::vcenter::wire::property::{RetrieveResult, UpdateSet};
use pulse_vsphere::vcenter::wire::rest::{
    ApplianceVersion, AttachedTags, Category, GuestIdentity, LocalFilesystems, RestErrorBody, Tag,
};
use pulse_vsphere::vcenter::wire::MoRef;
use pulse_vsphere::vcenter::FailureClass;

/// Decodes like the client: a blank body is "no result", anything else must parse as `T`.
fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<Option<T>, serde_json::Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body).map(Some)
}

/// Feeds `body` to every decoder (as a single value and, where the client reads arrays, as a
/// list) and runs what the client does next with whatever decodes. A panic fails the caller.
fn feed_all(body: &[u8]) {
    macro_rules! each {
        ($($t:ty),* $(,)?) => {$(
            let _ = decode::<$t>(body);
            let _ = decode::<Vec<$t>>(body);
        )*};
    }
    each!(
        ServiceContent,
        AboutInfo,
        UserSession,
        AlarmInfo,
        PerfInterval,
        ApplianceVersion,
        GuestIdentity,
        LocalFilesystems,
        Tag,
        Category,
        RestErrorBody,
        MoRef,
        String,
    );
    if let Ok(Some(r)) = decode::<RetrieveResult>(body) {
        let _ = r
            .objects
            .into_iter()
            .map(|o| o.prop_set.len())
            .sum::<usize>();
    }
    if let Ok(Some(set)) = decode::<UpdateSet>(body) {
        apply_and_project(vec![set]);
    }
    if let Ok(Some(events)) = decode::<Vec<Event>>(body) {
        for e in events {
            let args = [&e.vm, &e.host, &e.ds, &e.entity, &e.alarm];
            let _: Vec<_> = args.into_iter().flatten().map(|a| a.moref()).collect();
        }
    }
    let _ = decode::<Event>(body);
    let _ = decode::<TaskInfo>(body);
    if let Ok(Some(list)) = decode::<Vec<PerfCounterInfo>>(body) {
        let _: Vec<String> = list.iter().map(PerfCounterInfo::full_name).collect();
    }
    if let Ok(Some(list)) = decode::<Vec<PerfEntityMetric>>(body) {
        let _: Vec<Vec<i64>> = list
            .iter()
            .flat_map(|m| m.value.iter().map(|s| s.values()))
            .collect();
    }
    if let Ok(Some(list)) = decode::<Vec<AttachedTags>>(body) {
        let _: usize = list.iter().map(|a| a.tag_ids.len()).sum();
    }
    if let Some(f) = VimFault::parse(body) {
        let _ = f.privileges();
        let _ = classify_fault("Test.call", f);
    }
    if let Ok(Some(v)) = decode::<Value>(body) {
        let _ = unbox(v);
    }
}

/// Applies update sets to an empty inventory and projects it after each, as the collector does;
/// the incremental projection must equal a projection from scratch every time.
fn apply_and_project(sets: Vec<UpdateSet>) -> RawInventory {
    let mut raw = RawInventory::default();
    let ctx = ProjectionContext {
        instance_uuid: "00000000-0000-0000-0000-000000000001".into(),
        ..ProjectionContext::default()
    };
    let mut projector = Projector::default();
    for set in sets {
        apply_updates(&mut raw, set);
        let changed = raw.take_changed();
        let incremental = projector.project(&raw, &changed, &ctx);
        let scratch = project(&raw, &ctx);
        assert_eq!(incremental.agents, scratch.agents);
        assert_eq!(incremental.vms, scratch.vms);
        assert_eq!(incremental.storage, scratch.storage);
        assert_eq!(incremental.issues, scratch.issues);
        let _ = InventorySnapshot::build(&ctx.instance_uuid, Utc::now(), incremental);
    }
    raw
}

// ---------------------------------------------------------------------------------------------
// Bodies in the shape the simulator (and vCenter) sends them.

fn moref(kind: &str, id: &str) -> Value {
    json!({"_typeName": "ManagedObjectReference", "type": kind, "value": id})
}

fn service_content() -> Value {
    json!({"_typeName": "ServiceContent",
        "rootFolder": moref("Folder", "group-d1"),
        "propertyCollector": moref("PropertyCollector", "propertyCollector"),
        "viewManager": moref("ViewManager", "ViewManager"),
        "about": {"_typeName": "AboutInfo", "name": "VMware vCenter Server",
            "fullName": "VMware vCenter Server 8.0.3 build-24022515", "vendor": "VMware, Inc.",
            "version": "8.0.3", "build": "24022515", "apiType": "VirtualCenter",
            "apiVersion": "8.0.3.0", "instanceUuid": "5c1b2a9e-3f4d-4c2b-9a11-2b3c4d5e6f70",
            "licenseProductName": "VMware VirtualCenter Server"},
        "sessionManager": moref("SessionManager", "SessionManager"),
        "perfManager": moref("PerformanceManager", "PerfMgr"),
        "setting": moref("OptionManager", "VpxSettings"),
        "extensionManager": moref("ExtensionManager", "ExtensionManager")})
}

fn retrieve_result() -> Value {
    json!({"_typeName": "RetrieveResult", "token": "1",
        "objects": [
            {"_typeName": "ObjectContent", "obj": moref("VirtualMachine", "vm-42"),
             "propSet": [
                {"_typeName": "DynamicProperty", "name": "name", "val": {"_typeName": "string", "_value": "web-01"}},
                {"_typeName": "DynamicProperty", "name": "runtime.powerState",
                 "val": {"_typeName": "VirtualMachinePowerState", "_value": "poweredOn"}},
                {"_typeName": "DynamicProperty", "name": "datastore",
                 "val": {"_typeName": "ArrayOfManagedObjectReference", "_value": [moref("Datastore", "datastore-11")]}},
                {"_typeName": "DynamicProperty", "name": "summary.quickStats",
                 "val": {"_typeName": "VirtualMachineQuickStats", "overallCpuUsage": 120, "uptimeSeconds": 3600}}]},
            {"_typeName": "ObjectContent", "obj": moref("VirtualMachine", "vm-43"),
             "propSet": [{"_typeName": "DynamicProperty", "name": "name", "val": {"_typeName": "string", "_value": "db-01"}}],
             "missingSet": [{"_typeName": "MissingProperty", "path": "guest",
                "fault": {"_typeName": "LocalizedMethodFault",
                   "fault": {"_typeName": "NoPermission", "object": moref("VirtualMachine", "vm-43"), "privilegeId": "System.Read"},
                   "localizedMessage": "Permission to perform this operation was denied."}}]}]})
}

fn update_set() -> Value {
    json!({"_typeName": "UpdateSet", "version": "7", "truncated": false, "filterSet": [
        {"_typeName": "PropertyFilterUpdate", "filter": moref("PropertyFilter", "session[52]1"), "objectSet": [
            {"_typeName": "ObjectUpdate", "kind": "enter", "obj": moref("HostSystem", "host-10"), "changeSet": [
                {"_typeName": "PropertyChange", "name": "name", "op": "assign", "val": {"_typeName": "string", "_value": "esx-01"}},
                {"_typeName": "PropertyChange", "name": "runtime.connectionState", "op": "assign",
                 "val": {"_typeName": "HostSystemConnectionState", "_value": "connected"}}]},
            {"_typeName": "ObjectUpdate", "kind": "modify", "obj": moref("VirtualMachine", "vm-42"), "changeSet": [
                {"_typeName": "PropertyChange", "name": "runtime.powerState", "op": "assign",
                 "val": {"_typeName": "VirtualMachinePowerState", "_value": "poweredOff"}},
                {"_typeName": "PropertyChange", "name": "runtime.host", "op": "assign", "val": moref("HostSystem", "host-10")},
                {"_typeName": "PropertyChange", "name": "snapshot", "op": "remove"}]},
            {"_typeName": "ObjectUpdate", "kind": "leave", "obj": moref("VirtualMachine", "vm-7")}]}]})
}

fn events() -> Value {
    json!([
        {"_typeName": "VmPoweredOnEvent", "key": 1001, "chainId": 1001, "createdTime": "2024-05-01T10:00:00.123Z",
         "userName": "VSPHERE.LOCAL\\admin", "fullFormattedMessage": "web-01 on esx-01 is powered on",
         "vm": {"_typeName": "VmEventArgument", "name": "web-01", "vm": moref("VirtualMachine", "vm-42")},
         "host": {"_typeName": "HostEventArgument", "name": "esx-01", "host": moref("HostSystem", "host-10")},
         "datacenter": {"_typeName": "DatacenterEventArgument", "name": "DC", "datacenter": moref("Datacenter", "datacenter-2")}},
        {"_typeName": "AlarmStatusChangedEvent", "key": 1002, "chainId": 1002, "createdTime": "2024-05-01T10:00:01Z",
         "alarm": {"_typeName": "AlarmEventArgument", "name": "Host CPU usage", "alarm": moref("Alarm", "alarm-1")},
         "entity": {"_typeName": "ManagedEntityEventArgument", "name": "esx-01", "entity": moref("HostSystem", "host-10")},
         "from": "green", "to": "red"},
        {"_typeName": "EventEx", "key": 1003, "chainId": 1003, "createdTime": "2024-05-01T10:00:02Z",
         "eventTypeId": "com.vmware.vc.HA.ClusterFailoverActionCompletedEvent", "severity": "info",
         "arguments": [{"_typeName": "KeyAnyValue", "key": "n", "value": {"_typeName": "int", "_value": 3}}]}])
}

fn task_info() -> Value {
    json!({"_typeName": "TaskInfo", "key": "task-101", "task": moref("Task", "task-101"),
        "descriptionId": "VirtualMachine.powerOn", "entity": moref("VirtualMachine", "vm-42"),
        "entityName": "web-01", "state": "error", "cancelled": false, "cancelable": false,
        "error": {"_typeName": "LocalizedMethodFault", "fault": {"_typeName": "InvalidPowerState"},
                  "localizedMessage": "The attempted operation cannot be performed in the current state"},
        "queueTime": "2024-05-01T10:00:00Z", "startTime": "2024-05-01T10:00:00Z",
        "completeTime": "2024-05-01T10:00:03Z", "eventChainId": 1001, "progress": 100})
}

fn perf_counters() -> Value {
    json!([{"_typeName": "PerfCounterInfo", "key": 2,
        "nameInfo": {"_typeName": "ElementDescription", "label": "Usage", "summary": "CPU usage", "key": "usage"},
        "groupInfo": {"_typeName": "ElementDescription", "label": "CPU", "summary": "CPU", "key": "cpu"},
        "unitInfo": {"_typeName": "ElementDescription", "label": "%", "summary": "Percentage", "key": "percent"},
        "rollupType": "average", "statsType": "rate", "level": 1, "perDeviceLevel": 3}])
}

fn perf_metrics() -> Value {
    json!([{"_typeName": "PerfEntityMetric", "entity": moref("VirtualMachine", "vm-42"),
        "sampleInfo": [{"_typeName": "PerfSampleInfo", "timestamp": "2024-05-01T10:00:20Z", "interval": 20}],
        "value": [{"_typeName": "PerfMetricIntSeries",
            "id": {"_typeName": "PerfMetricId", "counterId": 2, "instance": ""}, "value": [1234]}]}])
}

fn fault() -> Value {
    json!({"_typeName": "NoPermission", "faultstring": "Permission to perform this operation was denied.",
        "faultMessage": [{"_typeName": "LocalizableMessage", "key": "vim.fault.NoPermission", "message": "denied"}],
        "object": moref("PerformanceManager", "PerfMgr"), "privilegeId": "System.Read",
        "missingPrivileges": [{"_typeName": "EntityPrivilege", "entity": moref("Folder", "group-d1"),
            "privilegeIds": ["System.Read", "System.View"]}]})
}

fn rest_error() -> Value {
    json!({"error_type": "SERVICE_UNAVAILABLE", "messages": [{"args": [], "default_message":
        "VMware Tools is not running in the guest.", "id": "com.vmware.api.vcenter.vm.guest.tools_not_running"}]})
}

fn guest_identity() -> Value {
    json!({"name": "UBUNTU_64", "family": "LINUX",
        "full_name": {"args": [], "default_message": "Ubuntu Linux (64-bit)", "id": "vmsg.guestos.ubuntu64Guest.label"},
        "host_name": "web-01.lab", "ip_address": "10.0.0.42"})
}

fn local_filesystems() -> Value {
    json!({"/": {"capacity": 42949672960_i64, "free_space": 21474836480_i64, "filesystem": "ext4",
        "mappings": [{"disk": "16000"}]}})
}

fn attached_tags() -> Value {
    json!([{"object_id": {"type": "VirtualMachine", "id": "vm-42"},
        "tag_ids": ["urn:vmomi:InventoryServiceTag:1:GLOBAL"]}])
}

/// Whether a body decodes as the client needs it.
type Check = fn(&[u8]) -> bool;

/// Each sample body with its check.
fn samples() -> Vec<(&'static str, Value, Check)> {
    vec![
        ("ServiceContent", service_content(), |b| {
            decode::<ServiceContent>(b).is_ok_and(|c| c.is_some())
        }),
        ("RetrieveResult", retrieve_result(), |b| {
            decode::<RetrieveResult>(b).is_ok_and(|r| r.is_some_and(|r| r.objects.len() == 2))
        }),
        ("UpdateSet", update_set(), |b| {
            decode::<UpdateSet>(b).is_ok_and(|s| s.is_some())
        }),
        ("Event[]", events(), |b| {
            decode::<Vec<Event>>(b).is_ok_and(|e| e.is_some_and(|e| e.len() == 3))
        }),
        ("TaskInfo", task_info(), |b| {
            decode::<TaskInfo>(b).is_ok_and(|t| t.is_some())
        }),
        ("PerfCounterInfo[]", perf_counters(), |b| {
            decode::<Vec<PerfCounterInfo>>(b).is_ok_and(|c| c.is_some())
        }),
        ("PerfEntityMetric[]", perf_metrics(), |b| {
            decode::<Vec<PerfEntityMetric>>(b).is_ok_and(|m| m.is_some())
        }),
        ("NoPermission", fault(), |b| {
            VimFault::parse(b).is_some_and(|f| f.type_name == "NoPermission")
        }),
        ("RestErrorBody", rest_error(), |b| {
            decode::<RestErrorBody>(b).is_ok_and(|e| e.is_some())
        }),
        ("GuestIdentity", guest_identity(), |b| {
            decode::<GuestIdentity>(b).is_ok_and(|g| g.is_some())
        }),
        ("LocalFilesystems", local_filesystems(), |b| {
            decode::<LocalFilesystems>(b).is_ok_and(|f| f.is_some())
        }),
        ("AttachedTags[]", attached_tags(), |b| {
            decode::<Vec<AttachedTags>>(b).is_ok_and(|t| t.is_some())
        }),
    ]
}

/// Every strict prefix of `body` (at most ~3,000 of them, evenly spaced, for large bodies)
/// fails to decode with `check`, and is fed to every decoder; the whole body decodes.
fn prefixes_fail(name: &str, body: &[u8], check: Check) {
    assert!(check(body), "{name}: the whole body decodes");
    // Trailing whitespace is not part of the value: cutting it off leaves a whole body.
    let len = body.len()
        - body
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
    let step = (len / 3000).max(1);
    for end in (0..len).step_by(step) {
        let prefix = &body[..end];
        if prefix.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        assert!(!check(prefix), "{name}: a prefix of {end} bytes decoded");
        feed_all(prefix);
    }
}

#[test]
fn truncations_of_sample_bodies_fail_cleanly() {
    for (name, body, check) in samples() {
        prefixes_fail(name, &serde_json::to_vec(&body).unwrap(), check);
        prefixes_fail(name, &serde_json::to_vec_pretty(&body).unwrap(), check);
    }
}

// ---------------------------------------------------------------------------------------------
// Tolerance: what vCenter really sends keeps decoding.

#[test]
fn unknown_subtypes_and_extra_fields_are_tolerated() {
    // A subtype of a later release, with fields this client has never heard of.
    let e: Vec<Event> = serde_json::from_value(json!([{"_typeName": "VmQuantumTunnelledEvent",
        "key": 5, "chainId": 5, "createdTime": "2030-01-01T00:00:00Z", "qubits": {"n": 12},
        "vm": {"_typeName": "VmEventArgument", "name": "x", "vm": moref("VirtualMachine", "vm-1"),
               "futureField": [1, 2]}}]))
    .expect("unknown event subtype");
    assert_eq!(e[0].type_name, "VmQuantumTunnelledEvent");
    assert_eq!(
        e[0].vm.as_ref().and_then(|a| a.moref()).map(|m| m.value),
        Some("vm-1".into())
    );
    // An unknown fault type is still a fault, classified as unknown with its text.
    let f = VimFault::parse(
        br#"{"_typeName": "FutureFault", "faultstring": "odd", "detail": {"x": 1}}"#,
    )
    .expect("a fault");
    let e = classify_fault("Folder.name", f);
    assert_eq!(
        (e.class, e.fault.as_deref()),
        (FailureClass::Unknown, Some("FutureFault"))
    );
    assert!(e.message.contains("odd"));
    // Extra fields everywhere: each sample with a stranger field in every object.
    for (name, body, check) in samples() {
        let body = add_field_everywhere(body);
        assert!(
            check(&serde_json::to_vec(&body).unwrap()),
            "{name} with extra fields"
        );
    }
}

fn add_field_everywhere(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut m: serde_json::Map<String, Value> = m
                .into_iter()
                .map(|(k, v)| (k, add_field_everywhere(v)))
                .collect();
            m.insert(
                "zzFutureField".into(),
                json!({"_typeName": "Future", "a": [null, 1.5]}),
            );
            Value::Object(m)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(add_field_everywhere).collect()),
        other => other,
    }
}

#[test]
fn absent_optional_fields_and_null_arrays_are_tolerated() {
    let c: ServiceContent =
        serde_json::from_value(json!({"rootFolder": moref("Folder", "group-d1"),
        "propertyCollector": moref("PropertyCollector", "propertyCollector"), "about": {}}))
        .expect("minimal ServiceContent");
    assert!(c.about.instance_uuid.is_none() && c.view_manager.is_none());
    let r: RetrieveResult = serde_json::from_value(json!({"objects": null})).expect("null objects");
    assert!(r.objects.is_empty() && r.token.is_none());
    let r: RetrieveResult = serde_json::from_value(json!({"objects": [
        {"obj": moref("HostSystem", "host-1"), "propSet": null, "missingSet": null}]}))
    .expect("null sets");
    assert!(r.objects[0].prop_set.is_empty());
    let set: UpdateSet = serde_json::from_value(json!({"version": "2", "filterSet": [
        {"filter": moref("PropertyFilter", "f"), "objectSet": [
            {"kind": "modify", "obj": moref("HostSystem", "host-1"), "changeSet": null, "missingSet": null}]}]}))
    .expect("null change sets");
    assert_eq!(apply_and_project(vec![set]).len(), 0);
    let set: UpdateSet =
        serde_json::from_value(json!({"version": "3", "filterSet": null})).expect("null filterSet");
    assert!(set.filter_set.is_empty() && set.truncated.is_none());
    let t: TaskInfo =
        serde_json::from_value(json!({"key": "task-1", "state": "queued"})).expect("task");
    assert!(t.entity.is_none() && t.progress.is_none());
    let m: Vec<PerfEntityMetric> = serde_json::from_value(json!([
        {"entity": moref("HostSystem", "host-1"), "sampleInfo": null, "value": null},
        {"entity": moref("HostSystem", "host-2")}]))
    .expect("perf without samples");
    assert!(m.iter().all(|m| m.value.is_empty()));
    let f = VimFault::parse(
        br#"{"_typeName": "NoPermission", "missingPrivileges": null, "faultMessage": null}"#,
    )
    .expect("fault with null arrays");
    assert!(f.privileges().is_empty());
    let f = VimFault::parse(
        br#"{"_typeName": "NoPermission", "missingPrivileges": [{"entity": null, "privilegeIds": null}]}"#,
    )
    .expect("null privilege ids");
    assert!(f.privileges().is_empty());
    let e: RestErrorBody =
        serde_json::from_value(json!({"error_type": "NOT_FOUND", "messages": null}))
            .expect("null messages");
    assert_eq!(e.error_type, "NOT_FOUND");
    let a: Vec<AttachedTags> = serde_json::from_value(json!([
        {"object_id": {"type": "VirtualMachine", "id": "vm-1"}, "tag_ids": null},
        {"object_id": {"type": "VirtualMachine", "id": "vm-2"}}]))
    .expect("null tag ids");
    assert!(a.iter().all(|a| a.tag_ids.is_empty()));
    let g: GuestIdentity = serde_json::from_value(json!({})).expect("empty identity");
    assert!(g.ip_address.is_none() && g.full_name.is_none());
}

#[test]
fn boxed_any_values_are_unboxed() {
    let r: RetrieveResult = serde_json::from_value(retrieve_result()).unwrap();
    let props: Vec<(String, Value)> = r.objects[0]
        .prop_set
        .iter()
        .map(|p| (p.name.clone(), p.val.clone().into_value().expect("value")))
        .collect();
    assert_eq!(props[0].1, json!("web-01"));
    assert_eq!(props[1].1, json!("poweredOn"));
    assert_eq!(props[2].1[0]["value"], "datastore-11");
    // A data object keeps its `_typeName` and unboxes its members.
    assert_eq!(props[3].1["uptimeSeconds"], 3600);
    // A MoRef in its boxed form, primitives boxed at every depth, and odd boxes.
    let v = unbox(
        json!({"_typeName": "ManagedObjectReference", "_value": {"type": "HostSystem", "value": "host-1"}}),
    );
    assert_eq!(v["value"], "host-1");
    assert_eq!(
        unbox(json!({"_typeName": "ArrayOfInt", "_value": null})),
        Value::Null
    );
    assert_eq!(
        unbox(json!({"_typeName": "int", "_value": {"_typeName": "long", "_value": 7}})),
        json!(7)
    );
    // `_value` with other members is a data object that happens to have such a field.
    let odd = json!({"_typeName": "OptionValue", "key": "k", "_value": 1});
    assert_eq!(unbox(odd.clone()), odd);
    // The same values through a change set land unboxed in the inventory.
    let raw = apply_and_project(vec![serde_json::from_value(update_set()).unwrap()]);
    assert_eq!(
        raw.get("vm-42").expect("vm-42").str(vm::POWER_STATE),
        Some("poweredOff")
    );
    assert_eq!(
        raw.get("vm-42").expect("vm-42").moid(vm::HOST),
        Some("host-10")
    );
    assert_eq!(
        raw.get("host-10").expect("host-10").str(host::NAME),
        Some("esx-01")
    );
}

#[test]
fn enum_values_of_later_releases_are_kept() {
    let set: UpdateSet = serde_json::from_value(json!({"version": "9", "filterSet": [
        {"filter": moref("PropertyFilter", "f"), "objectSet": [
            {"kind": "enter", "obj": moref("VirtualMachine", "vm-1"), "changeSet": [
                {"name": "name", "op": "assign", "val": "a"},
                {"name": "runtime.powerState", "op": "assign", "val": {"_typeName": "VirtualMachinePowerState", "_value": "hibernating"}}]},
            {"kind": "future", "obj": moref("VirtualMachine", "vm-1"), "changeSet": [
                {"name": "name", "op": "teleport", "val": "b"}]},
            {"kind": "enter", "obj": moref("HostSystem", "host-1"), "changeSet": [
                {"name": "runtime.connectionState", "op": "assign", "val": "quantumEntangled"}]}]}]}))
    .expect("unknown kinds and ops decode");
    assert_eq!(set.filter_set[0].object_set[1].kind, "future");
    let raw = apply_and_project(vec![set]);
    // The unknown kind did not stop the updates after it; unknown values are kept as sent.
    let vm = raw.get("vm-1").expect("vm-1");
    assert_eq!(vm.str(vm::POWER_STATE), Some("hibernating"));
    assert!(matches!(vm.str(vm::NAME), Some("a") | Some("b")));
    assert_eq!(
        raw.get("host-1")
            .expect("host-1")
            .str(host::CONNECTION_STATE),
        Some("quantumEntangled")
    );
    let t: TaskInfo = serde_json::from_value(json!({"key": "t", "state": "paused"})).unwrap();
    assert_eq!(t.state, "paused");
    let g: GuestIdentity = serde_json::from_value(json!({"family": "QUANTUM_OS"})).unwrap();
    assert_eq!(g.family, "QUANTUM_OS");
    let e: RestErrorBody = serde_json::from_value(json!({"error_type": "NEW_ERROR_2030"})).unwrap();
    assert_eq!(e.error_type, "NEW_ERROR_2030");
}

#[test]
fn type_confused_fault_details_still_classify_by_type_name() {
    // A fault is classified by `_typeName`; its detail fields must not turn it into "no fault".
    for (field, val) in [
        ("privilegeId", json!(7)),
        ("object", json!("vm-1")),
        ("obj", json!([1])),
        ("missingPrivileges", json!({"privilegeIds": "System.Read"})),
        ("missingPrivileges", json!([{"privilegeIds": [1, 2]}])),
        ("faultstring", json!({"text": "x"})),
        ("invalidProperty", json!(false)),
        ("faultMessage", json!("text")),
    ] {
        let mut f = fault();
        f[field] = val;
        let parsed = VimFault::parse(&serde_json::to_vec(&f).unwrap());
        assert_eq!(
            parsed.map(|f| f.type_name),
            Some("NoPermission".to_string()),
            "{field} confused"
        );
    }
    assert!(VimFault::parse(br#"{"_typeName": 5}"#).is_none());
    assert!(VimFault::parse(br#"[{"_typeName": "NoPermission"}]"#).is_none());
}

// ---------------------------------------------------------------------------------------------
// Oversized input.

#[test]
fn oversized_bodies_decode_or_fail_without_exhausting_the_stack() {
    // 50,000 objects in one page (more than a 45,000-VM vCenter sends).
    let objects: Vec<Value> = (0..50_000)
        .map(|i| {
            json!({"obj": moref("VirtualMachine", &format!("vm-{i}")), "propSet": [
            {"name": "name", "val": {"_typeName": "string", "_value": format!("vm {i}")}}]})
        })
        .collect();
    let body = serde_json::to_vec(&json!({"objects": objects})).unwrap();
    let r: RetrieveResult = decode(&body).unwrap().unwrap();
    assert_eq!(r.objects.len(), 50_000);
    // A 16 MB string.
    let long = "x".repeat(16 << 20);
    let body =
        serde_json::to_vec(&json!({"_typeName": "NoPermission", "faultstring": long})).unwrap();
    let e = classify_fault("c", VimFault::parse(&body).expect("long fault"));
    assert_eq!(e.class, FailureClass::PermissionDenied);
    // Nesting far beyond any real body: an error, not a stack overflow.
    for depth in [200, 100_000] {
        let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(decode::<Value>(deep.as_bytes()).is_err());
        feed_all(deep.as_bytes());
        let nested = format!(
            r#"{{"version":"1","filterSet":[{{"filter":{{"type":"F","value":"f"}},"objectSet":[{{"kind":"enter","obj":{{"type":"VirtualMachine","value":"vm-1"}},"changeSet":[{{"name":"guest","op":"assign","val":{}{}}}]}}]}}]}}"#,
            r#"{"a":"#.repeat(depth) + "1",
            "}".repeat(depth)
        );
        // Refused with the response, or, when only the value is too deep, the property is
        // listed as unreadable and the object kept.
        if let Ok(Some(set)) = decode::<UpdateSet>(nested.as_bytes()) {
            let raw = apply_and_project(vec![set]);
            let vm = raw.get("vm-1").expect("the object is kept");
            assert_eq!(vm.missing["guest"], MALFORMED_VALUE);
            assert!(!vm.props.contains_key("guest"));
        }
    }
    // Numbers out of range for the typed fields.
    for key in [
        "1e400",
        "18446744073709551616",
        "-9223372036854775809",
        "1.5",
    ] {
        let body = format!(r#"[{{"key": {key}, "createdTime": "2024-01-01T00:00:00Z"}}]"#);
        assert!(decode::<Vec<Event>>(body.as_bytes()).is_err(), "{key}");
        feed_all(body.as_bytes());
    }
    let m: Vec<PerfEntityMetric> = serde_json::from_str(
        r#"[{"entity": {"type": "HostSystem", "value": "h"}, "value": [{"id": {"counterId": 2},
            "value": [18446744073709551615, -1, 1e300, "7", null, 5]}]}]"#,
    )
    .unwrap();
    assert_eq!(m[0].value[0].values(), vec![-1, 5]);
}

// ---------------------------------------------------------------------------------------------
// Property tests.

const KEYS: &[&str] = &[
    "_typeName",
    "_value",
    "type",
    "value",
    "key",
    "name",
    "obj",
    "val",
    "op",
    "kind",
    "path",
    "version",
    "token",
    "objects",
    "propSet",
    "missingSet",
    "filterSet",
    "objectSet",
    "changeSet",
    "filter",
    "fault",
    "truncated",
    "about",
    "rootFolder",
    "propertyCollector",
    "instanceUuid",
    "createdTime",
    "vm",
    "host",
    "entity",
    "alarm",
    "state",
    "nameInfo",
    "groupInfo",
    "rollupType",
    "sampleInfo",
    "id",
    "counterId",
    "timestamp",
    "privilegeId",
    "missingPrivileges",
    "privilegeIds",
    "messages",
    "error_type",
    "default_message",
    "object_id",
    "tag_ids",
    "capacity",
    "free_space",
    "family",
    "host_name",
];

const WORDS: &[&str] = &[
    "enter",
    "leave",
    "modify",
    "future",
    "assign",
    "remove",
    "indirectRemove",
    "add",
    "VirtualMachine",
    "HostSystem",
    "Datastore",
    "vm-1",
    "host-1",
    "name",
    "runtime",
    "runtime.powerState",
    "runtime.host",
    "guest",
    "summary",
    "poweredOn",
    "connected",
    "NoPermission",
    "NotAuthenticated",
    "string",
    "ManagedObjectReference",
    "ArrayOfManagedObjectReference",
    "",
    ".",
    "a..b",
    "runtime.",
    // References between the generated objects (`obj-N`), so projection's cross-object reads
    // (a VM's host's parent, a host's folder) see changes.
    "parent",
    "network",
    "HostSystem:obj-1",
    "Folder:obj-2",
    "ClusterComputeResource:obj-3",
    "Network:obj-4",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        prop::sample::select(WORDS).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        4 => prop::sample::select(KEYS).prop_map(str::to_string),
                        1 => ".{0,6}"
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A structurally valid `UpdateSet` with arbitrary kinds, ops, paths and values.
fn update_sets() -> impl Strategy<Value = Value> {
    let change = (
        prop::sample::select(WORDS),
        prop::sample::select(WORDS),
        json_value(),
    )
        .prop_map(|(name, op, val)| json!({"name": name, "op": op, "val": val}));
    let update = (
        prop::sample::select(WORDS),
        prop::sample::select(
            &["VirtualMachine", "HostSystem", "Datastore", "Folder", "ClusterComputeResource", "Network", "Weird"][..],
        ),
        0..6u32,
        prop::collection::vec(change, 0..5),
    )
        .prop_map(|(kind, t, id, changes)| {
            json!({"kind": kind, "obj": {"type": t, "value": format!("obj-{id}")}, "changeSet": changes})
        });
    (
        any::<bool>(),
        prop::collection::vec(update, 0..12),
    )
        .prop_map(|(truncated, updates)| {
            json!({"version": "1", "truncated": truncated,
                   "filterSet": [{"filter": {"type": "PropertyFilter", "value": "f"}, "objectSet": updates}]})
        })
}

/// The number of nodes of `v`, and a copy with node `n` (pre-order) replaced by `with`.
fn count_nodes(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count_nodes).sum(),
        Value::Object(m) => m.values().map(count_nodes).sum(),
        _ => 0,
    }
}

fn replace_node(v: &mut Value, n: &mut usize, with: &Value) -> bool {
    if *n == 0 {
        *v = with.clone();
        return true;
    }
    *n -= 1;
    match v {
        Value::Array(a) => a.iter_mut().any(|c| replace_node(c, n, with)),
        Value::Object(m) => m.values_mut().any(|c| replace_node(c, n, with)),
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..600)) {
        feed_all(&body);
    }

    #[test]
    fn random_json_never_panics(v in json_value()) {
        feed_all(&serde_json::to_vec(&v).unwrap());
    }

    #[test]
    fn type_confused_sample_bodies_never_panic(
        which in 0..12usize, at in any::<prop::sample::Index>(), with in json_value()
    ) {
        let (_, mut body, _) = samples().swap_remove(which);
        let mut n = at.index(count_nodes(&body));
        replace_node(&mut body, &mut n, &with);
        feed_all(&serde_json::to_vec(&body).unwrap());
    }

    #[test]
    fn damaged_sample_bytes_never_panic(
        which in 0..12usize, at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()
    ) {
        let (_, body, _) = samples().swap_remove(which);
        let mut bytes = serde_json::to_vec(&body).unwrap();
        let i = at.index(bytes.len());
        if cut { bytes.insert(i, byte) } else { bytes[i] = byte }
        feed_all(&bytes);
    }

    #[test]
    fn arbitrary_update_sets_apply_and_project(sets in prop::collection::vec(update_sets(), 1..4)) {
        let sets: Vec<UpdateSet> = sets
            .into_iter()
            .map(|s| serde_json::from_value(s).expect("structurally valid"))
            .collect();
        let left: Vec<String> = sets.iter()
            .flat_map(|s| s.filter_set.iter().flat_map(|f| f.object_set.iter()))
            .map(|u| (u.kind.clone(), u.obj.value.clone()))
            .fold(Vec::new(), |mut acc, (k, id)| {
                acc.retain(|x| x != &id);
                if k == "leave" { acc.push(id) }
                acc
            });
        let raw = apply_and_project(sets);
        // An object whose last update was `leave` is gone.
        for id in left {
            prop_assert!(raw.get(&id).is_none(), "{} left but is kept", id);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Real bodies from the simulator over HTTPS, and every prefix of each.

struct Raw {
    c: reqwest::Client,
    vim: String,
    rest: String,
    vim_token: String,
    rest_token: String,
}

impl Raw {
    async fn vim(&self, path: &str, body: Option<Value>) -> (u16, Vec<u8>) {
        let url = format!("{}/{path}", self.vim);
        common::call_raw(&self.c, &self.vim_token, url, body).await
    }

    async fn rest(&self, path: &str, body: Option<Value>) -> (u16, Vec<u8>) {
        let url = format!("{}{path}", self.rest);
        common::call_raw(&self.c, &self.rest_token, url, body).await
    }
}

fn value_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("simulator body is JSON")
}

/// Real bodies, each with the check it must pass whole and fail on every prefix.
#[derive(Default)]
struct Bodies(Vec<(String, Vec<u8>, Check)>);

impl Bodies {
    /// Keeps `body` after checking its status; returns the bytes for further use.
    fn keep(
        &mut self,
        name: &str,
        (status, body): (u16, Vec<u8>),
        want: u16,
        check: Check,
    ) -> Vec<u8> {
        assert_eq!(status, want, "{name}: {}", String::from_utf8_lossy(&body));
        self.0.push((name.to_string(), body.clone(), check));
        body
    }
}

#[tokio::test]
async fn truncations_of_real_simulator_bodies_fail_cleanly() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let vim = common::Vim::login(&sim, "admin", "admin").await;
    let rest = common::Rest::login(&sim, "admin", "admin").await;
    let raw = Raw {
        c: common::insecure_client(),
        vim: vim.base.clone(),
        rest: rest.base.clone(),
        vim_token: vim.token.clone(),
        rest_token: rest.token.clone(),
    };
    let mut bodies = Bodies::default();
    let got = raw
        .vim("ServiceInstance/ServiceInstance/content", None)
        .await;
    bodies.keep("content", got, 200, |b| {
        decode::<ServiceContent>(b).is_ok_and(|c| c.is_some())
    });

    let kinds = ["VirtualMachine", "HostSystem", "Datastore"];
    let (_, view) = raw
        .vim(
            "ViewManager/ViewManager/CreateContainerView",
            Some(
                json!({"container": moref("Folder", "group-d1"), "type": kinds, "recursive": true}),
            ),
        )
        .await;
    let view = value_of(&view);
    let spec = json!({"_typeName": "PropertyFilterSpec",
        "propSet": pulse_vsphere::model::kinds::property_paths().iter()
            .filter(|(k, _)| kinds.contains(k))
            .map(|(k, p)| json!({"_typeName": "PropertySpec", "type": k, "pathSet": p}))
            .collect::<Vec<_>>(),
        "objectSet": [{"_typeName": "ObjectSpec", "obj": view, "skip": true, "selectSet": [
            {"_typeName": "TraversalSpec", "name": "v", "type": "ContainerView", "path": "view", "skip": false}]}]});
    let options = json!({"_typeName": "RetrieveOptions", "maxObjects": 3});
    let got = raw
        .vim(
            "PropertyCollector/propertyCollector/RetrievePropertiesEx",
            Some(json!({"specSet": [spec.clone()], "options": options})),
        )
        .await;
    bodies.keep("RetrievePropertiesEx", got, 200, |b| {
        decode::<RetrieveResult>(b).is_ok_and(|r| r.is_some_and(|r| !r.objects.is_empty()))
    });

    let (_, pc) = raw
        .vim(
            "PropertyCollector/propertyCollector/CreatePropertyCollector",
            Some(json!({})),
        )
        .await;
    let pc = value_of(&pc)["value"]
        .as_str()
        .expect("collector")
        .to_string();
    let filter = json!({"spec": spec, "partialUpdates": false});
    let (s, _) = raw
        .vim(
            &format!("PropertyCollector/{pc}/CreateFilter"),
            Some(filter),
        )
        .await;
    assert_eq!(s, 200);
    let wait = json!({"version": "", "options": {"_typeName": "WaitOptions", "maxWaitSeconds": 0, "maxObjectUpdates": 4}});
    let got = raw
        .vim(
            &format!("PropertyCollector/{pc}/WaitForUpdatesEx"),
            Some(wait),
        )
        .await;
    let b = bodies.keep("WaitForUpdatesEx", got, 200, |b| {
        decode::<UpdateSet>(b).is_ok_and(|s| s.is_some())
    });
    let inventory = apply_and_project(vec![decode::<UpdateSet>(&b).unwrap().unwrap()]);
    assert!(!inventory.is_empty());

    let all = json!({"filter": {"_typeName": "EventFilterSpec"}});
    let (s, b) = raw
        .vim("EventManager/EventManager/QueryEvents", Some(all))
        .await;
    let few: Vec<Value> = value_of(&b)
        .as_array()
        .expect("events")
        .iter()
        .take(20)
        .cloned()
        .collect();
    bodies.keep(
        "QueryEvents",
        (s, serde_json::to_vec(&few).unwrap()),
        200,
        |b| decode::<Vec<Event>>(b).is_ok_and(|e| e.is_some()),
    );

    let (_, tasks) = raw.vim("TaskManager/TaskManager/recentTask", None).await;
    if let Some(t) = value_of(&tasks).as_array().and_then(|a| a.first()).cloned() {
        let got = raw
            .vim(&format!("Task/{}/info", t["value"].as_str().unwrap()), None)
            .await;
        bodies.keep("TaskInfo", got, 200, |b| {
            decode::<TaskInfo>(b).is_ok_and(|t| t.is_some())
        });
    }

    let got = raw
        .vim("PerformanceManager/PerfMgr/perfCounter", None)
        .await;
    let b = bodies.keep("perfCounter", got, 200, |b| {
        decode::<Vec<PerfCounterInfo>>(b).is_ok_and(|c| c.is_some())
    });
    let counters: Vec<PerfCounterInfo> = decode(&b).unwrap().unwrap();
    let cpu = counters
        .iter()
        .find(|c| c.full_name() == "cpu.usage.average")
        .expect("cpu")
        .key;
    let host = sim.control().state().inv().ids_of("HostSystem")[0].clone();
    let query = json!({"querySpec": [{"_typeName": "PerfQuerySpec", "entity": moref("HostSystem", &host),
        "intervalId": 20, "maxSample": 3, "metricId": [{"_typeName": "PerfMetricId", "counterId": cpu, "instance": ""}]}]});
    let got = raw
        .vim("PerformanceManager/PerfMgr/QueryPerf", Some(query))
        .await;
    bodies.keep("QueryPerf", got, 200, |b| {
        decode::<Vec<PerfEntityMetric>>(b).is_ok_and(|m| m.is_some_and(|m| !m.is_empty()))
    });

    let got = raw.vim("VirtualMachine/vm-999999/name", None).await;
    bodies.keep("fault", got, 500, |b| VimFault::parse(b).is_some());

    let with_tools = common::vm_by_tools(&sim, true);
    let without = common::vm_by_tools(&sim, false);
    let guest = |vm: &str, tail: &str| format!("/api/vcenter/vm/{vm}/guest/{tail}");
    let got = raw.rest(&guest(&with_tools, "identity"), None).await;
    bodies.keep("guest identity", got, 200, |b| {
        decode::<GuestIdentity>(b).is_ok_and(|g| g.is_some())
    });
    let got = raw
        .rest(&guest(&with_tools, "local-filesystem"), None)
        .await;
    bodies.keep("local filesystem", got, 200, |b| {
        decode::<LocalFilesystems>(b).is_ok_and(|f| f.is_some_and(|f| !f.is_empty()))
    });
    let got = raw.rest(&guest(&without, "identity"), None).await;
    let b = bodies.keep("REST error", got, 503, |b| {
        decode::<RestErrorBody>(b).is_ok_and(|e| e.is_some())
    });
    let e: RestErrorBody = decode(&b).unwrap().unwrap();
    assert_eq!(e.error_type, "SERVICE_UNAVAILABLE");
    let objects = json!({"object_ids": [{"type": "VirtualMachine", "id": with_tools}]});
    let got = raw
        .rest(
            "/api/cis/tagging/tag-association?action=list-attached-tags-on-objects",
            Some(objects),
        )
        .await;
    bodies.keep("attached tags", got, 200, |b| {
        decode::<Vec<AttachedTags>>(b).is_ok_and(|t| t.is_some())
    });

    for (name, body, check) in &bodies.0 {
        prefixes_fail(name, body, *check);
    }
    let _ = raw
        .vim("SessionManager/SessionManager/Logout", Some(json!(null)))
        .await;
    let url = format!("{}/api/session", raw.rest);
    let _ = raw
        .c
        .delete(url)
        .header("vmware-api-session-id", &raw.rest_token)
        .send()
        .await;
}
