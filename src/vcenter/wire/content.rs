//! `ServiceContent`, `AboutInfo` and `UserSession`.

use serde::Deserialize;

use super::MoRef;

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceContent {
    pub root_folder: MoRef,
    pub property_collector: MoRef,
    pub about: AboutInfo,
    #[serde(default)]
    pub view_manager: Option<MoRef>,
    #[serde(default)]
    pub session_manager: Option<MoRef>,
    #[serde(default)]
    pub event_manager: Option<MoRef>,
    #[serde(default)]
    pub task_manager: Option<MoRef>,
    #[serde(default)]
    pub alarm_manager: Option<MoRef>,
    #[serde(default)]
    pub perf_manager: Option<MoRef>,
    #[serde(default)]
    pub setting: Option<MoRef>,
    #[serde(default)]
    pub authorization_manager: Option<MoRef>,
}

/// A manager's reference: the one vCenter named in ServiceContent, else vCenter's usual moId
/// (ServiceContent marks most managers optional).
macro_rules! manager {
    ($(#[$doc:meta] $method:ident, $field:ident, $kind:literal, $id:literal;)*) => {
        impl ServiceContent {
            $(
                #[$doc]
                pub fn $method(&self) -> MoRef {
                    self.$field.clone().unwrap_or_else(|| MoRef::new($kind, $id))
                }
            )*
        }
    };
}

manager! {
    /// `SessionManager`.
    sessions, session_manager, "SessionManager", "SessionManager";
    /// `ViewManager`.
    views, view_manager, "ViewManager", "ViewManager";
    /// `EventManager`.
    events, event_manager, "EventManager", "EventManager";
    /// `TaskManager`.
    tasks, task_manager, "TaskManager", "TaskManager";
    /// `AlarmManager`.
    alarms, alarm_manager, "AlarmManager", "AlarmManager";
    /// `PerformanceManager`.
    perf, perf_manager, "PerformanceManager", "PerfMgr";
    /// `OptionManager` of vpxd settings.
    settings, setting, "OptionManager", "VpxSettings";
    /// `AuthorizationManager`.
    authorization, authorization_manager, "AuthorizationManager", "AuthorizationManager";
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AboutInfo {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub full_name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub build: String,
    #[serde(default)]
    pub api_type: String,
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub instance_uuid: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSession {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub user_name: String,
}
