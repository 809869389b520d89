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
