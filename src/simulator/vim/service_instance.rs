//! `ServiceInstance` content and `SessionManager` (Login, Logout, currentSession).

use serde_json::{json, Value};

use super::fault::VimFault;
use super::{Call, Reply, VimResult};
use crate::simulator::config::{ApiRelease, ApiType};
use crate::simulator::inventory::MoRef;
use crate::simulator::sessions::{Family, LoginError};

/// Singleton managed objects and their moIds, as a vCenter names them.
pub const SINGLETONS: &[(&str, &str, &str)] = &[
    (
        "propertyCollector",
        "PropertyCollector",
        "propertyCollector",
    ),
    ("viewManager", "ViewManager", "ViewManager"),
    ("setting", "OptionManager", "VpxSettings"),
    ("sessionManager", "SessionManager", "SessionManager"),
    (
        "authorizationManager",
        "AuthorizationManager",
        "AuthorizationManager",
    ),
    ("perfManager", "PerformanceManager", "PerfMgr"),
    ("eventManager", "EventManager", "EventManager"),
    ("taskManager", "TaskManager", "TaskManager"),
    ("alarmManager", "AlarmManager", "AlarmManager"),
];

/// Whether `kind`/`id` is a singleton manager this simulator has.
pub fn is_singleton(kind: &str, id: &str) -> bool {
    kind == "ServiceInstance" && id == "ServiceInstance"
        || SINGLETONS.iter().any(|(_, k, i)| *k == kind && *i == id)
}

/// `AboutInfo` of this simulated vCenter, or of an ESXi host when configured as one.
pub fn about(call: &Call) -> Value {
    let r = call.state.config.api_release;
    if call.state.config.api_type == ApiType::HostAgent {
        return esxi_about(r);
    }
    json!({
        "_typeName": "AboutInfo",
        "name": "VMware vCenter Server",
        "fullName": format!("VMware vCenter Server {} build-{}", r.product_version(), r.build()),
        "vendor": "VMware, Inc.",
        "version": r.product_version(),
        "build": r.build(),
        "localeVersion": "INTL",
        "localeBuild": "000",
        "osType": "linux-x64",
        "productLineId": "vpx",
        "apiType": ApiType::VirtualCenter.as_str(),
        "apiVersion": r.as_str(),
        "instanceUuid": call.state.instance_uuid,
        "licenseProductName": "VMware VirtualCenter Server",
        "licenseProductVersion": "8.0",
    })
}

/// `AboutInfo` as a standalone ESXi host sends it: no `instanceUuid` (only vCenter has one).
fn esxi_about(r: ApiRelease) -> Value {
    json!({
        "_typeName": "AboutInfo",
        "name": "VMware ESXi",
        "fullName": format!("VMware ESXi {} build-{}", r.product_version(), r.esxi_build()),
        "vendor": "VMware, Inc.",
        "version": r.product_version(),
        "build": r.esxi_build(),
        "localeVersion": "INTL",
        "localeBuild": "000",
        "osType": "vmnix-x86",
        "productLineId": "embeddedEsx",
        "apiType": ApiType::HostAgent.as_str(),
        "apiVersion": r.as_str(),
        "licenseProductName": "VMware ESX Server",
        "licenseProductVersion": "8.0",
    })
}

/// `GET /ServiceInstance/ServiceInstance/content` and `RetrieveServiceContent` (anonymous).
pub fn content(call: &Call) -> VimResult {
    let mut c = json!({
        "_typeName": "ServiceContent",
        "rootFolder": MoRef::new("Folder", "group-d1").to_json(),
        "about": about(call),
    });
    if let Some(o) = c.as_object_mut() {
        for (field, kind, id) in SINGLETONS {
            o.insert((*field).to_string(), MoRef::new(kind, *id).to_json());
        }
    }
    Ok(Reply::Json(c))
}

/// `SessionManager.Login`.
pub fn login(call: &Call, body: &Value) -> VimResult {
    let user = body.get("userName").and_then(Value::as_str);
    let password = body.get("password").and_then(Value::as_str);
    let (Some(user), Some(password)) = (user, password) else {
        return Err(VimFault::invalid_argument("userName"));
    };
    let limit = call.state.faults().session_limit;
    match call.state.sessions.login(
        &call.state.config.users,
        Family::Vim,
        user,
        password,
        &call.user_agent,
        limit,
        &call.state.stats,
    ) {
        Ok(s) => Ok(Reply::LoggedIn {
            body: s.user_session(),
            token: s.token.clone(),
        }),
        Err(LoginError::InvalidLogin) => Err(VimFault::invalid_login()),
        Err(LoginError::SessionLimit(n)) => {
            let mut f = VimFault::new(
                "SystemError",
                &format!("User session count is limited to {n}. Existing sessions: {n}."),
            )
            .with("reason", json!("session limit"));
            f.status = axum::http::StatusCode::SERVICE_UNAVAILABLE;
            Err(f)
        }
    }
}

/// `SessionManager.Logout`.
pub fn logout(call: &Call) -> VimResult {
    let s = call.session()?;
    call.state.sessions.logout(&s.token, &call.state.stats);
    Ok(Reply::Empty)
}

/// `GET /SessionManager/{id}/currentSession`: the UserSession, or an empty body without one.
pub fn current_session(call: &Call) -> VimResult {
    match &call.session {
        Some(s) => Ok(Reply::Json(s.user_session())),
        None => Ok(Reply::Empty),
    }
}
