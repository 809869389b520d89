//! Listing through a ContainerView and paged `RetrievePropertiesEx`: the only way to read
//! 45,000 VMs (the REST list stops at 4,000) and the way every peer that scales does it.

use serde_json::{json, Value};

use crate::vcenter::client::{Idempotency, VcClient};
use crate::vcenter::error::{ApiFamily, FailureClass, VcError, VcResult};
use crate::vcenter::wire::property::{ObjectContent, RetrieveResult};
use crate::vcenter::wire::MoRef;

/// Creates a recursive ContainerView of `types` under the root folder.
pub async fn create_view(c: &VcClient, types: &[&str]) -> VcResult<MoRef> {
    let n = c.negotiate().await?;
    let vm = n.content.views();
    let root = n.content.root_folder.clone();
    let v: Option<MoRef> = c
        .vim_post(
            &vm,
            "CreateContainerView",
            Some(json!({"container": root, "type": types, "recursive": true})),
            Idempotency::Once,
        )
        .await?;
    v.ok_or_else(|| {
        VcError::new(
            FailureClass::ProtocolError,
            ApiFamily::ViJson,
            "ViewManager.CreateContainerView",
            "vCenter returned no view",
        )
    })
}

/// Destroys a view; a view already gone with its session is not an error.
pub async fn destroy_view(c: &VcClient, view: &MoRef) {
    c.free(view, "DestroyView", None).await;
}

/// A `PropertyFilterSpec` over everything in `view`: one `PropertySpec` per `(type, paths)`.
pub fn view_filter_spec(view: &MoRef, props: &[(&str, &[&str])]) -> Value {
    let prop_set: Vec<Value> = props
        .iter()
        .map(|(kind, paths)| json!({"_typeName": "PropertySpec", "type": kind, "pathSet": paths}))
        .collect();
    json!({
        "_typeName": "PropertyFilterSpec",
        "propSet": prop_set,
        "objectSet": [{"_typeName": "ObjectSpec", "obj": view, "skip": true,
            "selectSet": [{"_typeName": "TraversalSpec", "name": "traverseView", "type": "ContainerView", "path": "view", "skip": false}]}],
    })
}

/// Every object matching `spec`, `max_objects` per page, handing each page to `page` as it
/// arrives so a caller never holds more than two pages of 45,000 objects. The next page is
/// requested before `page` runs, so vCenter builds and sends it while the caller stores the last
/// one. A failed page cancels the listing's token so vCenter frees it.
pub async fn retrieve_paged(
    c: &VcClient,
    spec: Value,
    max_objects: u32,
    mut page: impl FnMut(Vec<ObjectContent>),
) -> VcResult<usize> {
    let pc = c.negotiate().await?.content.property_collector.clone();
    let first: Option<RetrieveResult> = c
        .vim_post(&pc, "RetrievePropertiesEx", Some(json!({"specSet": [spec], "options": {"_typeName": "RetrieveOptions", "maxObjects": max_objects.max(1)}})), Idempotency::Read)
        .await?;
    let mut total = 0;
    let mut next = first;
    while let Some(r) = next.take() {
        total += r.objects.len();
        // Its own task, so the next page is read and decoded on another worker while `page`
        // runs on this one; the set aborts it if this listing is dropped half way.
        let mut prefetch = tokio::task::JoinSet::new();
        if let Some(token) = r.token.clone() {
            let (c, pc) = (c.clone(), pc.clone());
            prefetch.spawn(async move {
                let n = c
                    .vim_post::<RetrieveResult>(
                        &pc,
                        "ContinueRetrievePropertiesEx",
                        Some(json!({"token": token})),
                        Idempotency::Once,
                    )
                    .await;
                (n, token)
            });
        }
        page(r.objects);
        let Some(joined) = prefetch.join_next().await else {
            break;
        };
        let (n, token) = joined.map_err(|e| {
            VcError::new(
                FailureClass::Unknown,
                ApiFamily::ViJson,
                "PropertyCollector.ContinueRetrievePropertiesEx",
                format!("the page read stopped: {e}"),
            )
        })?;
        match n {
            Ok(n) => next = n,
            Err(e) => {
                c.free(
                    &pc,
                    "CancelRetrievePropertiesEx",
                    Some(json!({"token": token})),
                )
                .await;
                return Err(e);
            }
        }
    }
    Ok(total)
}

/// Every object of the listed types with the listed paths, through a temporary view.
pub async fn retrieve_all(
    c: &VcClient,
    props: &[(&str, &[&str])],
    max_objects: u32,
) -> VcResult<Vec<ObjectContent>> {
    let types: Vec<&str> = props.iter().map(|(t, _)| *t).collect();
    let view = create_view(c, &types).await?;
    let mut out = Vec::new();
    let r = retrieve_paged(c, view_filter_spec(&view, props), max_objects, |p| {
        out.extend(p)
    })
    .await;
    destroy_view(c, &view).await;
    r.map(|_| out)
}

/// Up to `n` objects of `kind` with `paths`: a cheap probe that the listing works at all.
pub async fn retrieve_first(
    c: &VcClient,
    kind: &str,
    paths: &[&str],
    n: u32,
) -> VcResult<Vec<ObjectContent>> {
    let view = create_view(c, &[kind]).await?;
    let pc = c.negotiate().await?.content.property_collector.clone();
    let spec = view_filter_spec(&view, &[(kind, paths)]);
    let r: VcResult<Option<RetrieveResult>> = c
        .vim_post(&pc, "RetrievePropertiesEx", Some(json!({"specSet": [spec], "options": {"_typeName": "RetrieveOptions", "maxObjects": n.max(1)}})), Idempotency::Read)
        .await;
    if let Ok(Some(RetrieveResult { token: Some(t), .. })) = &r {
        c.free(&pc, "CancelRetrievePropertiesEx", Some(json!({"token": t})))
            .await;
    }
    destroy_view(c, &view).await;
    r.map(|r| r.map(|r| r.objects).unwrap_or_default())
}
