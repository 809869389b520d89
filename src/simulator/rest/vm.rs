//! `GET /api/vcenter/vm/{vm}`: `VM.Info` built from the VM's VI properties. The inventory models
//! one disk and one NIC per VM; the SCSI controller the disk hangs off is implied, as on every
//! real VM with a SCSI disk, so it is synthesised here.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::enums;
use super::topology::str_at;
use super::{error, RestSession};
use crate::simulator::inventory::{Inventory, ManagedObject};
use crate::simulator::state::SimState;

/// The VM `id` as the session may see it: 403 without read privilege, 404 when unknown.
pub fn find_vm(
    state: &SimState,
    session: &RestSession,
    id: &str,
) -> Result<ManagedObject, Response> {
    session.require_any(state)?;
    let inv = state.inv();
    let vm = inv
        .get(id)
        .filter(|o| o.moref.kind == "VirtualMachine")
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "com.vmware.api.vcenter.vm.not_found",
                &format!("Virtual machine with identifier '{id}' does not exist."),
            )
        })?;
    session.require_read(state, id)?;
    Ok(vm.clone())
}

/// `GET /api/vcenter/vm/{vm}`.
pub async fn get(
    State(state): State<Arc<SimState>>,
    session: RestSession,
    Path(id): Path<String>,
) -> Response {
    match find_vm(&state, &session, &id) {
        Ok(vm) => Json(info(&state.inv(), &vm)).into_response(),
        Err(resp) => resp,
    }
}

fn info(inv: &Inventory, vm: &ManagedObject) -> Value {
    let power = enums::vm_power_state(str_at(vm, "runtime.powerState"));
    let guest_id = str_at(vm, "config.guestId");
    let hw_version = str_at(vm, "config.version")
        .strip_prefix("vmx-")
        .map(|v| format!("VMX_{v}"))
        .unwrap_or_else(|| "VMX_19".to_string());
    let devices: Vec<Value> = vm
        .get_path("config.hardware.device")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let (disks, scsi) = disks(vm, &devices);
    json!({
        "name": vm.name(),
        "guest_OS": enums::guest_os(guest_id),
        "power_state": power,
        "identity": {
            "name": vm.name(),
            "bios_uuid": str_at(vm, "config.uuid"),
            "instance_uuid": str_at(vm, "config.instanceUuid"),
        },
        "instant_clone_frozen": false,
        "hardware": {"version": hw_version, "upgrade_policy": "NEVER", "upgrade_status": "NONE"},
        "boot": {
            "type": if guest_id.starts_with("windows") { "EFI" } else { "BIOS" },
            "delay": 0,
            "retry": false,
            "retry_delay": 10000,
            "enter_setup_mode": false,
        },
        "boot_devices": [],
        "cpu": {
            "count": vm.get_path("config.hardware.numCPU"),
            "cores_per_socket": vm.get_path("config.hardware.numCoresPerSocket").cloned().unwrap_or(json!(1)),
            "hot_add_enabled": false,
            "hot_remove_enabled": false,
        },
        "memory": {"size_MiB": vm.get_path("config.hardware.memoryMB"), "hot_add_enabled": false},
        "disks": disks,
        "nics": nics(inv, vm, &devices, power == "POWERED_ON"),
        "scsi_adapters": scsi,
        "cdroms": {},
        "floppies": {},
        "parallel_ports": {},
        "serial_ports": {},
        "sata_adapters": {},
        "nvme_adapters": {},
    })
}

fn key_of(device: &Value) -> String {
    device.get("key").map(|k| k.to_string()).unwrap_or_default()
}

fn label_of(device: &Value) -> Value {
    device
        .get("deviceInfo")
        .and_then(|d| d.get("label"))
        .cloned()
        .unwrap_or(json!(""))
}

/// The disks map and the SCSI adapter map holding them (empty when the VM has no disk).
fn disks(vm: &ManagedObject, devices: &[Value]) -> (Map<String, Value>, Map<String, Value>) {
    let vmdk = str_at(vm, "summary.config.vmPathName").replace(".vmx", ".vmdk");
    let mut disks = Map::new();
    for (unit, d) in devices
        .iter()
        .filter(|d| d.get("_typeName").and_then(Value::as_str) == Some("VirtualDisk"))
        .enumerate()
    {
        disks.insert(
            key_of(d),
            json!({
                "label": label_of(d),
                "type": "SCSI",
                "scsi": {"bus": 0, "unit": unit},
                "backing": {"type": "VMDK_FILE", "vmdk_file": vmdk},
                "capacity": d.get("capacityInBytes"),
            }),
        );
    }
    let mut scsi = Map::new();
    if !disks.is_empty() {
        scsi.insert(
            "1000".into(),
            json!({
                "label": "SCSI controller 0",
                "type": "PVSCSI",
                "scsi": {"bus": 0, "unit": 7},
                "pci_slot_number": 160,
                "sharing": "NONE",
            }),
        );
    }
    (disks, scsi)
}

fn emulation(type_name: &str) -> Option<&'static str> {
    Some(match type_name {
        "VirtualVmxnet3" => "VMXNET3",
        "VirtualVmxnet2" => "VMXNET2",
        "VirtualVmxnet" => "VMXNET",
        "VirtualE1000" => "E1000",
        "VirtualE1000e" => "E1000E",
        "VirtualPCNet32" => "PCNET32",
        _ => return None,
    })
}

fn nics(inv: &Inventory, vm: &ManagedObject, devices: &[Value], on: bool) -> Map<String, Value> {
    let network = vm.morefs_at("network").into_iter().next();
    let network_name = network
        .as_ref()
        .and_then(|n| inv.get(&n.value))
        .map(|n| n.name().to_string());
    let mut out = Map::new();
    for d in devices {
        let Some(ty) = d
            .get("_typeName")
            .and_then(Value::as_str)
            .and_then(emulation)
        else {
            continue;
        };
        out.insert(
            key_of(d),
            json!({
                "label": label_of(d),
                "type": ty,
                "upt_compatibility_enabled": false,
                "mac_type": d.get("addressType").and_then(Value::as_str).unwrap_or("assigned").to_ascii_uppercase(),
                "mac_address": d.get("macAddress"),
                "pci_slot_number": 192,
                "wake_on_lan_enabled": false,
                "backing": {
                    "type": "STANDARD_PORTGROUP",
                    "network": network.as_ref().map(|n| n.value.clone()),
                    "network_name": network_name,
                },
                "state": if on { "CONNECTED" } else { "NOT_CONNECTED" },
                "start_connected": true,
                "allow_guest_control": true,
            }),
        );
    }
    out
}
