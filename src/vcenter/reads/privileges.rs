//! The logged-in user's privileges on the root folder compared with the phase-1 read bundle
//! (`docs/privileges.md`).

use serde::Deserialize;
use serde_json::json;

use crate::vcenter::client::{Idempotency, VcClient};
use crate::vcenter::error::VcResult;
use crate::vcenter::MoRef;

/// What the product needs, read-only; a candidate to confirm on a live vCenter.
pub const PHASE1_PRIVILEGES: &[&str] = &["System.Anonymous", "System.View", "System.Read"];

#[derive(Debug, Deserialize)]
struct UserPrivilegeResult {
    #[serde(default)]
    privileges: Vec<String>,
}

/// The logged-in user's privileges on each of `entities`, in order.
pub async fn user_privileges(c: &VcClient, entities: &[MoRef]) -> VcResult<Vec<Vec<String>>> {
    let auth = c.negotiate().await?.content.authorization();
    let user = c.config().username.clone();
    let r: Vec<UserPrivilegeResult> = c
        .vim_post(
            &auth,
            "FetchUserPrivilegeOnEntities",
            Some(json!({"entities": entities, "userName": user})),
            Idempotency::Read,
        )
        .await?
        .unwrap_or_default();
    Ok(r.into_iter().map(|r| r.privileges).collect())
}

/// The phase-1 privileges the user lacks on the root folder (empty = all present).
pub async fn missing_privileges(c: &VcClient) -> VcResult<Vec<String>> {
    let root = c.negotiate().await?.content.root_folder.clone();
    let have: Vec<String> = user_privileges(c, &[root]).await?.concat();
    Ok(PHASE1_PRIVILEGES
        .iter()
        .filter(|p| !have.iter().any(|h| h == *p))
        .map(|p| p.to_string())
        .collect())
}
