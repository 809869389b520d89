//! REST reads: appliance version, guest identity and filesystems, tags.

use serde_json::json;

use crate::vcenter::client::VcClient;
use crate::vcenter::error::VcResult;
use crate::vcenter::wire::rest::{
    ApplianceVersion, AttachedTags, Category, GuestIdentity, LocalFilesystems, Tag,
};

pub async fn appliance_version(c: &VcClient) -> VcResult<Option<ApplianceVersion>> {
    c.rest_get("/api/appliance/system/version").await
}

/// Guest identity; `Ok(None)` when Tools is not running (vCenter answers 503 for that).
pub async fn guest_identity(c: &VcClient, vm: &str) -> VcResult<Option<GuestIdentity>> {
    match c
        .rest_get(&format!("/api/vcenter/vm/{vm}/guest/identity"))
        .await
    {
        Err(e) if e.fault.as_deref() == Some("SERVICE_UNAVAILABLE") => Ok(None),
        other => other,
    }
}

/// Guest filesystems by mount point; `Ok(None)` when Tools is not running.
pub async fn local_filesystems(c: &VcClient, vm: &str) -> VcResult<Option<LocalFilesystems>> {
    match c
        .rest_get(&format!("/api/vcenter/vm/{vm}/guest/local-filesystem"))
        .await
    {
        Err(e) if e.fault.as_deref() == Some("SERVICE_UNAVAILABLE") => Ok(None),
        other => other,
    }
}

/// Tag ids -> (tag, category name) and the tags attached to each object, in batches.
pub async fn tags_of(c: &VcClient, kind: &str, ids: &[String]) -> VcResult<Vec<AttachedTags>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let objects: Vec<_> = chunk
            .iter()
            .map(|id| json!({"type": kind, "id": id}))
            .collect();
        let r: Option<Vec<AttachedTags>> = c
            .rest(
                reqwest::Method::POST,
                "/api/cis/tagging/tag-association?action=list-attached-tags-on-objects",
                Some(json!({"object_ids": objects})),
            )
            .await?;
        out.extend(r.unwrap_or_default());
    }
    Ok(out)
}

/// Every tag with its category name.
pub async fn tag_catalog(c: &VcClient) -> VcResult<Vec<(Tag, String)>> {
    let tag_ids: Vec<String> = c
        .rest_get("/api/cis/tagging/tag")
        .await?
        .unwrap_or_default();
    let mut out = Vec::with_capacity(tag_ids.len());
    let mut categories = std::collections::HashMap::<String, String>::new();
    for id in tag_ids {
        let Some(tag) = c
            .rest_get::<Tag>(&format!("/api/cis/tagging/tag/{id}"))
            .await?
        else {
            continue;
        };
        if !categories.contains_key(&tag.category_id) {
            let cat: Option<Category> = c
                .rest_get(&format!("/api/cis/tagging/category/{}", tag.category_id))
                .await?;
            categories.insert(
                tag.category_id.clone(),
                cat.map(|c| c.name).unwrap_or_default(),
            );
        }
        let cat = categories
            .get(&tag.category_id)
            .cloned()
            .unwrap_or_default();
        out.push((tag, cat));
    }
    Ok(out)
}
