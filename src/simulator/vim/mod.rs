//! The VI JSON API (`/sdk/vim25/{release}/{Type}/{moId}/{method-or-property}`): one dispatch
//! that checks release -> session -> object -> handler, with one module per managed object
//! type like govmomi's simulator.

pub mod any;
pub mod events;
pub mod fault;
pub mod history;
pub mod managers;
pub mod objects;
pub mod perf_manager;
pub mod property_collector;
pub mod service_instance;
pub mod tasks;
pub mod updates;
pub mod view_manager;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use self::fault::VimFault;
use super::inventory::MoRef;
use super::sessions::{Family, Session};
use super::state::SimState;

/// One VI JSON request after routing.
pub struct Call {
    /// Simulator state.
    pub state: Arc<SimState>,
    /// The caller's session, when the token is valid.
    pub session: Option<Arc<Session>>,
    /// Managed object type from the URL.
    pub mo_type: String,
    /// moId from the URL.
    pub mo_id: String,
    /// Method or property name from the URL.
    pub name: String,
    /// The release segment of the URL.
    pub release: String,
    /// The client's User-Agent.
    pub user_agent: String,
}

impl Call {
    /// The target as a MoRef.
    pub fn this(&self) -> MoRef {
        MoRef::new(&self.mo_type, self.mo_id.clone())
    }

    /// The session, or `NotAuthenticated` (HTTP 500, as vCenter sends it).
    pub fn session(&self) -> Result<&Arc<Session>, VimFault> {
        self.session
            .as_ref()
            .ok_or_else(|| VimFault::not_authenticated(&self.this()))
    }
}

/// What a handler answers.
pub enum Reply {
    /// 200 with a JSON value.
    Json(Value),
    /// 204 (void method, or a null result).
    Empty,
    /// 200 with a UserSession and the new token in `vmware-api-session-id`.
    LoggedIn {
        /// UserSession.
        body: Value,
        /// Session token.
        token: String,
    },
}

/// A handler's result.
pub type VimResult = Result<Reply, VimFault>;

/// The `/sdk/vim25` routes.
pub fn router() -> Router<Arc<SimState>> {
    Router::new().route(
        "/sdk/vim25/{release}/{mo_type}/{mo_id}/{name}",
        get(get_property).post(post_method),
    )
}

type PathArgs = (String, String, String, String);

fn build_call(
    state: Arc<SimState>,
    (release, mo_type, mo_id, name): PathArgs,
    headers: &HeaderMap,
) -> Result<Call, Response> {
    let r = state.config.api_release;
    if !r.vi_json_releases().contains(&release.as_str()) {
        // A release newer than this vCenter speaks: some builds answer 500, not 404.
        if r.has_vi_json() && state.config.unknown_release_status == 500 {
            return Err(VimFault::new(
                "InvalidRequest",
                &format!("Unsupported API release {release}"),
            )
            .into_response());
        }
        // No VI JSON at all (6.7, 7.0.3), or a release newer than this vCenter speaks.
        return Err(super::rest::error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "com.vmware.vapi.rest.httpNotFound",
            "Not found.",
        ));
    }
    let session = headers
        .get("vmware-api-session-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| state.authenticate(t, Family::Vim));
    let user_agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    Ok(Call {
        state,
        session,
        mo_type,
        mo_id,
        name,
        release,
        user_agent,
    })
}

/// `SystemError` for a call the fault settings name (`failing_methods`).
fn failing(call: &Call) -> Option<VimFault> {
    let name = format!("{}.{}", call.mo_type, call.name);
    call.state.faults().failing_methods.contains(&name).then(|| {
        VimFault::new(
            "SystemError",
            &format!("A general system error occurred: {name} failed in the simulated vCenter service"),
        )
        .with("reason", serde_json::json!("simulated service failure"))
    })
}

fn respond(result: VimResult) -> Response {
    match result {
        Ok(Reply::Json(v)) => Json(v).into_response(),
        Ok(Reply::Empty) => StatusCode::NO_CONTENT.into_response(),
        Ok(Reply::LoggedIn { body, token }) => {
            let mut resp = Json(body).into_response();
            if let Ok(v) = HeaderValue::from_str(&token) {
                resp.headers_mut().insert("vmware-api-session-id", v);
            }
            resp
        }
        Err(f) => f.into_response(),
    }
}

async fn get_property(
    State(state): State<Arc<SimState>>,
    Path(args): Path<PathArgs>,
    headers: HeaderMap,
) -> Response {
    let call = match build_call(state, args, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Some(f) = failing(&call) {
        return f.into_response();
    }
    let result = match (call.mo_type.as_str(), call.name.as_str()) {
        ("ServiceInstance", "content") if call.mo_id == "ServiceInstance" => {
            service_instance::content(&call)
        }
        ("SessionManager", "currentSession") => service_instance::current_session(&call),
        ("ContainerView", "view") => view_manager::view_property(&call),
        ("TaskManager", "recentTask") => managers::recent_task(&call),
        ("PerformanceManager", "perfCounter") => perf_manager::perf_counter(&call),
        ("PerformanceManager", "historicalInterval") => perf_manager::historical_interval(&call),
        ("EventHistoryCollector", "latestPage") => history::latest_page(&call, events::COLLECTOR),
        ("TaskHistoryCollector", "latestPage") => history::latest_page(&call, tasks::COLLECTOR),
        ("Task", "info") => managers::task_info(&call),
        _ => match call.session() {
            Err(f) => Err(f),
            Ok(_) if call.state.inv().get_ref(&call.this()).is_some() => {
                property_collector::get_property(&call)
            }
            Ok(_) => Err(unknown_member(&call)),
        },
    };
    respond(result)
}

async fn post_method(
    State(state): State<Arc<SimState>>,
    Path(args): Path<PathArgs>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = match build_call(state, args, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return VimFault::new(
                    "InvalidRequest",
                    &format!("The request body is not valid JSON: {e}"),
                )
                .into_response()
            }
        }
    };
    let anonymous = matches!(
        (call.mo_type.as_str(), call.name.as_str()),
        ("SessionManager", "Login") | ("ServiceInstance", "RetrieveServiceContent")
    );
    if !anonymous {
        if let Err(f) = call.session() {
            return f.into_response();
        }
        if let Some(f) = failing(&call) {
            return f.into_response();
        }
    }
    let result = match (call.mo_type.as_str(), call.name.as_str()) {
        ("ServiceInstance", "RetrieveServiceContent") => service_instance::content(&call),
        ("SessionManager", "Login") => service_instance::login(&call, &body),
        ("SessionManager", "Logout") => service_instance::logout(&call),
        ("PerformanceManager", "QueryAvailablePerfMetric") => {
            perf_manager::query_available(&call, &body)
        }
        ("PerformanceManager", "QueryPerfProviderSummary") => {
            perf_manager::provider_summary(&call, &body)
        }
        ("PerformanceManager", "QueryPerf") => perf_manager::query_perf(&call, &body),
        ("EventManager", "QueryEvents") => events::query_events(&call, &body),
        ("EventManager", "CreateCollectorForEvents") => {
            history::create(&call, &body, events::COLLECTOR)
        }
        ("TaskManager", "CreateCollectorForTasks") => {
            history::create(&call, &body, tasks::COLLECTOR)
        }
        ("EventHistoryCollector", "ReadNextEvents") | ("TaskHistoryCollector", "ReadNextTasks") => {
            history::read_next(&call, &body, collector_kind(&call))
        }
        ("EventHistoryCollector", "ReadPreviousEvents")
        | ("TaskHistoryCollector", "ReadPreviousTasks") => {
            history::read_previous(&call, &body, collector_kind(&call))
        }
        ("EventHistoryCollector" | "TaskHistoryCollector", "RewindCollector") => {
            history::reposition(&call, true, collector_kind(&call))
        }
        ("EventHistoryCollector" | "TaskHistoryCollector", "ResetCollector") => {
            history::reposition(&call, false, collector_kind(&call))
        }
        ("EventHistoryCollector" | "TaskHistoryCollector", "DestroyCollector") => {
            history::destroy(&call, collector_kind(&call))
        }
        ("AlarmManager", "GetAlarm") => managers::get_alarm(&call, &body),
        ("AlarmManager", "GetAlarmState") => managers::get_alarm_state(&call, &body),
        ("OptionManager", "QueryOptions") => managers::query_options(&call, &body),
        ("AuthorizationManager", "FetchUserPrivilegeOnEntities") => {
            managers::fetch_user_privilege_on_entities(&call, &body)
        }
        ("AuthorizationManager", "HasPrivilegeOnEntities") => {
            managers::has_privilege_on_entities(&call, &body)
        }
        ("ViewManager", "CreateContainerView") => view_manager::create_container_view(&call, &body),
        ("ContainerView", "DestroyView") => view_manager::destroy_view(&call),
        ("PropertyCollector", "RetrievePropertiesEx") => {
            property_collector::retrieve_properties_ex(&call, &body)
        }
        ("PropertyCollector", "ContinueRetrievePropertiesEx") => {
            property_collector::continue_retrieve_properties_ex(&call, &body)
        }
        ("PropertyCollector", "CreatePropertyCollector") => {
            updates::create_property_collector(&call)
        }
        ("PropertyCollector", "DestroyPropertyCollector") => {
            updates::destroy_property_collector(&call)
        }
        ("PropertyCollector", "CreateFilter") => updates::create_filter(&call, &body),
        ("PropertyCollector", "WaitForUpdatesEx") => {
            updates::wait_for_updates_ex(&call, &body).await
        }
        ("PropertyCollector", "CancelWaitForUpdates") => updates::cancel_wait_for_updates(&call),
        ("PropertyFilter", "DestroyPropertyFilter") => updates::destroy_property_filter(&call),
        ("PropertyCollector", "CancelRetrievePropertiesEx") => {
            property_collector::cancel_retrieve_properties_ex(&call, &body)
        }
        _ => Err(unknown_member(&call)),
    };
    respond(result)
}

/// The history collector kind the call's object is.
fn collector_kind(call: &Call) -> history::Kind {
    if call.mo_type == "TaskHistoryCollector" {
        tasks::COLLECTOR
    } else {
        events::COLLECTOR
    }
}

/// The fault for a method or property this simulator does not serve on that object.
fn unknown_member(call: &Call) -> VimFault {
    if !service_instance::is_singleton(&call.mo_type, &call.mo_id)
        && call.state.inv().get_ref(&call.this()).is_none()
    {
        return VimFault::not_found(&call.this());
    }
    VimFault::invalid_argument(&call.name)
}
