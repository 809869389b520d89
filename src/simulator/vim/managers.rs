//! The small singleton managers: AlarmManager (`GetAlarm`, `GetAlarmState`), TaskManager
//! (`recentTask`, `Task/{id}/info`), OptionManager (`QueryOptions`) and AuthorizationManager
//! (`FetchUserPrivilegeOnEntities`, `HasPrivilegeOnEntities`). Alarm definitions are inventory
//! objects, so `Alarm/{id}/info` is an ordinary property read.

use chrono::Utc;
use serde_json::{json, Value};

use super::fault::VimFault;
use super::{Call, Reply, VimResult};
use crate::simulator::config::Role;
use crate::simulator::inventory::MoRef;
use crate::simulator::sessions::privileges_for;

/// `AlarmManager.GetAlarm {entity?}`: alarms defined on that entity (all of them live on the
/// root folder, as vCenter's default alarms do).
pub fn get_alarm(call: &Call, body: &Value) -> VimResult {
    call.session()?;
    let inv = call.state.inv();
    let entity = body.get("entity").and_then(MoRef::from_json);
    let on_root = entity
        .as_ref()
        .is_none_or(|e| Some(e) == inv.root_folder.as_ref());
    if let Some(e) = &entity {
        if inv.get_ref(e).is_none() {
            return Err(VimFault::not_found(e));
        }
    }
    let alarms: Vec<Value> = if on_root {
        inv.of_type("Alarm").map(|a| a.moref.to_json()).collect()
    } else {
        Vec::new()
    };
    Ok(Reply::Json(Value::Array(alarms)))
}

/// `AlarmManager.GetAlarmState {entity}`.
pub fn get_alarm_state(call: &Call, body: &Value) -> VimResult {
    let session = call.session()?;
    let e = body
        .get("entity")
        .and_then(MoRef::from_json)
        .ok_or_else(|| VimFault::invalid_argument("entity"))?;
    let inv = call.state.inv();
    let obj = inv.get_ref(&e).ok_or_else(|| VimFault::not_found(&e))?;
    if !call.state.can_read(session, &e.value) {
        return Err(VimFault::no_permission(&e, "System.Read"));
    }
    Ok(Reply::Json(
        obj.get_path("triggeredAlarmState")
            .cloned()
            .unwrap_or(json!([])),
    ))
}

/// `GET TaskManager/TaskManager/recentTask`: Task references of the tasks running or completed
/// in the last ten minutes (at most 200).
pub fn recent_task(call: &Call) -> VimResult {
    call.session()?;
    let inv = call.state.inv();
    Ok(Reply::Json(Value::Array(
        inv.recent_tasks(Utc::now())
            .into_iter()
            .filter_map(|t| t.get("task").cloned())
            .collect(),
    )))
}

/// `GET Task/{id}/info`: a Task object lives while it is recent; an older task is only in the
/// task history (TaskHistoryCollector).
pub fn task_info(call: &Call) -> VimResult {
    call.session()?;
    let inv = call.state.inv();
    inv.recent_tasks(Utc::now())
        .into_iter()
        .find(|t| t.get("key").and_then(Value::as_str) == Some(call.mo_id.as_str()))
        .cloned()
        .map(Reply::Json)
        .ok_or_else(|| VimFault::not_found(&call.this()))
}

/// `OptionManager.QueryOptions {name?}` on `VpxSettings`.
pub fn query_options(call: &Call, body: &Value) -> VimResult {
    let session = call.session()?;
    let faults = call.state.faults();
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("config.vpxd.stats.maxQueryMetrics");
    const KEY: &str = "config.vpxd.stats.maxQueryMetrics";
    if name != KEY && !KEY.starts_with(name) {
        return Err(
            VimFault::new("InvalidName", &format!("The name '{name}' is invalid."))
                .with("name", json!(name)),
        );
    }
    if faults.max_query_metrics_unreadable || !call.state.can_read_any(session) {
        return Err(VimFault::no_permission(&call.this(), "System.Read"));
    }
    Ok(Reply::Json(json!([{
        "_typeName": "OptionValue",
        "key": KEY,
        "value": {"_typeName": "int", "_value": faults.max_query_metrics},
    }])))
}

fn granted(call: &Call, role: Role, entity: &str) -> &'static [&'static str] {
    let denied = call.state.faults().no_permission_objects.contains(entity);
    if denied {
        &["System.Anonymous"]
    } else {
        privileges_for(role)
    }
}

/// `AuthorizationManager.FetchUserPrivilegeOnEntities {entities, userName}`.
pub fn fetch_user_privilege_on_entities(call: &Call, body: &Value) -> VimResult {
    let session = call.session()?;
    let entities = body
        .get("entities")
        .and_then(Value::as_array)
        .ok_or_else(|| VimFault::invalid_argument("entities"))?;
    let user = body
        .get("userName")
        .and_then(Value::as_str)
        .unwrap_or(&session.user);
    let role = call
        .state
        .config
        .users
        .iter()
        .find(|u| {
            user.rsplit('\\')
                .next()
                .unwrap_or(user)
                .eq_ignore_ascii_case(&u.name)
        })
        .map(|u| u.role)
        .ok_or_else(|| VimFault::invalid_argument("userName"))?;
    let inv = call.state.inv();
    let mut out = Vec::new();
    for e in entities {
        let m = MoRef::from_json(e).ok_or_else(|| VimFault::invalid_argument("entities"))?;
        if inv.get_ref(&m).is_none() {
            return Err(VimFault::not_found(&m));
        }
        out.push(json!({"_typeName": "UserPrivilegeResult", "entity": m.to_json(), "privileges": granted(call, role, &m.value)}));
    }
    Ok(Reply::Json(Value::Array(out)))
}

/// `AuthorizationManager.HasPrivilegeOnEntities {entity, sessionId, privId}`.
pub fn has_privilege_on_entities(call: &Call, body: &Value) -> VimResult {
    let session = call.session()?;
    let entities = body
        .get("entity")
        .and_then(Value::as_array)
        .ok_or_else(|| VimFault::invalid_argument("entity"))?;
    let privs: Vec<&str> = body
        .get("privId")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for e in entities {
        let m = MoRef::from_json(e).ok_or_else(|| VimFault::invalid_argument("entity"))?;
        let held = granted(call, session.role, &m.value);
        let avail: Vec<Value> = privs
            .iter()
            .map(|p| json!({"_typeName": "PrivilegeAvailability", "privId": p, "isGranted": held.contains(p)}))
            .collect();
        out.push(json!({"_typeName": "EntityPrivilege", "entity": m.to_json(), "privAvailability": avail}));
    }
    Ok(Reply::Json(Value::Array(out)))
}
