//! The library's plain use as a baseline for the page: async-graphql answering the page's query
//! from plain `SimpleObject` structs already in memory (the page's own response, read back),
//! through its default executor, on the HTTP stack and allocator `serve` uses. No data access,
//! no limits, no cache: what the mandated library costs to parse, validate, execute and write
//! this query when used as its documentation shows. (The service keeps parsed documents per
//! thread and resolves snapshot objects inline, which this baseline does not.)

use async_graphql::{Context, EmptyMutation, EmptySubscription, Object, Schema, SimpleObject};
use serde::Deserialize;

#[derive(SimpleObject, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VmConnection {
    total_count: i32,
    page_info: PageInfo,
    nodes: Vec<Vm>,
}

#[derive(SimpleObject, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    end_cursor: Option<String>,
    has_next_page: bool,
}

#[derive(SimpleObject, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Vm {
    id: String,
    name: String,
    status: String,
    last_seen: String,
    host: Option<Ref>,
    datastores: RefConnection,
    alerts: Vec<Alert>,
    identity: Identity,
    vsphere: VmFacet,
}

/// A host, datastore, datacenter or cluster as the page names it (fields it does not select
/// stay null and are never asked for).
#[derive(SimpleObject, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ref {
    id: Option<String>,
    name: Option<String>,
    status: Option<String>,
}

#[derive(SimpleObject, Deserialize)]
struct RefConnection {
    nodes: Vec<Ref>,
}

#[derive(SimpleObject, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Alert {
    id: String,
    name: String,
    severity: String,
    since: Option<String>,
}

#[derive(SimpleObject, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Identity {
    instance_uuid: Option<String>,
    ips: Vec<String>,
    macs: Vec<String>,
    hostnames: Vec<String>,
}

#[derive(SimpleObject, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VmFacet {
    power_state: String,
    snapshot_count: i32,
    guest: Option<Guest>,
    topology: Topology,
}

#[derive(SimpleObject, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Guest {
    hostname: Option<String>,
    os_name: Option<String>,
    tools_running: bool,
    ip_address: Option<String>,
    filesystems: Vec<Filesystem>,
}

#[derive(SimpleObject, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filesystem {
    path: String,
    capacity_bytes: Option<f64>,
    free_bytes: Option<f64>,
}

#[derive(SimpleObject, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Topology {
    datacenter: Option<Ref>,
    cluster: Option<Ref>,
    folder_path: Vec<String>,
}

struct Query;

#[Object]
impl Query {
    /// The same page whatever the cursor: the baseline measures the library, not a lookup.
    async fn vsphere_vms<'a>(
        &self,
        ctx: &Context<'a>,
        first: i32,
        after: Option<String>,
    ) -> &'a VmConnection {
        let _ = (first, after);
        ctx.data_unchecked::<VmConnection>()
    }
}

/// `POST /graphql` answered from the response in `page_file`.
pub fn router(page_file: &str) -> axum::Router {
    let response: serde_json::Value =
        serde_json::from_slice(&std::fs::read(page_file).expect("page")).expect("page JSON");
    let page: VmConnection =
        serde_json::from_value(response["data"]["vsphereVms"].clone()).expect("the page's shape");
    let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
        .data(page)
        .finish();
    axum::Router::new().route(
        "/graphql",
        axum::routing::post(move |axum::Json(req): axum::Json<async_graphql::Request>| {
            let schema = schema.clone();
            async move {
                let resp = schema.execute(req).await;
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "application/graphql-response+json",
                    )],
                    serde_json::to_vec(&resp).expect("response"),
                )
            }
        }),
    )
}
