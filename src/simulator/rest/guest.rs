//! `GET /api/vcenter/vm/{vm}/guest/identity` and `.../guest/local-filesystem`: what VMware Tools
//! reports. Without running Tools vCenter has nothing to say and answers 503
//! `SERVICE_UNAVAILABLE`; clients must treat that as "unknown", not as an outage.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::topology::str_at;
use super::vm::find_vm;
use super::{enums, error, RestSession};
use crate::simulator::inventory::ManagedObject;
use crate::simulator::state::SimState;

/// Renders what Tools reports for VM `id`, or the 401/403/404/503 that stands in its way.
fn with_tools(
    state: &SimState,
    session: &RestSession,
    id: &str,
    render: impl FnOnce(&ManagedObject) -> Value,
) -> Response {
    let vm = match find_vm(state, session, id) {
        Ok(vm) => vm,
        Err(resp) => return resp,
    };
    if str_at(&vm, "guest.toolsRunningStatus") == "guestToolsRunning" {
        Json(render(&vm)).into_response()
    } else {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "com.vmware.api.vcenter.vm.guest.tools_not_running",
            "VMware Tools is not running in the guest operating system.",
        )
    }
}

/// `GET /api/vcenter/vm/{vm}/guest/identity`.
pub async fn identity(
    State(state): State<Arc<SimState>>,
    session: RestSession,
    Path(id): Path<String>,
) -> Response {
    with_tools(&state, &session, &id, identity_info)
}

fn identity_info(vm: &ManagedObject) -> Value {
    let guest_id = str_at(vm, "guest.guestId");
    let mut body = json!({
        "name": enums::guest_os(guest_id),
        "family": enums::guest_family(str_at(vm, "guest.guestFamily")),
        "full_name": {
            "id": format!("vmsg.guestos.{guest_id}.label"),
            "default_message": str_at(vm, "guest.guestFullName"),
            "args": [],
        },
        "host_name": str_at(vm, "guest.hostName"),
    });
    if let Some(ip) = vm.get_path("guest.ipAddress") {
        body["ip_address"] = ip.clone();
    }
    body
}

/// `GET /api/vcenter/vm/{vm}/guest/local-filesystem`: mount point -> capacity and free space.
pub async fn local_filesystem(
    State(state): State<Arc<SimState>>,
    session: RestSession,
    Path(id): Path<String>,
) -> Response {
    with_tools(&state, &session, &id, filesystems)
}

fn filesystems(vm: &ManagedObject) -> Value {
    let mut out = Map::new();
    for disk in vm
        .get_path("guest.disk")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(path) = disk.get("diskPath").and_then(Value::as_str) else {
            continue;
        };
        // GuestDiskInfo.mappings (vSphere 7.0+) names the virtual disks behind a filesystem.
        let mappings: Vec<Value> = disk
            .get("mappings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("key"))
            .map(|k| json!({"disk": k.to_string()}))
            .collect();
        let mut fs = json!({
            "capacity": disk.get("capacity").cloned().unwrap_or(json!(0)),
            "free_space": disk.get("freeSpace").cloned().unwrap_or(json!(0)),
            "mappings": mappings,
        });
        if let Some(t) = disk.get("filesystemType") {
            fs["filesystem"] = t.clone();
        }
        out.insert(path.to_string(), fs);
    }
    Value::Object(out)
}
