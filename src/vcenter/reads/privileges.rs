//! The logged-in user's privileges on the root folder compared with the phase-1 read bundle
//! (`docs/privileges.md`).

use serde::Deserialize;
use serde_json::json;

use crate::vcenter::client::{Idempotency, VcClient};
use crate::vcenter::error::VcResult;

/// What the product needs, read-only; a candidate to confirm on a live vCenter.
pub const PHASE1_PRIVILEGES: &[&str] = &["System.Anonymous", "System.View", "System.Read"];

#[derive(Debug, Deserialize)]
struct UserPrivilegeResult {
    #[serde(default)]
    privileges: Vec<String>,
}

/// The phase-1 privileges the user lacks on the root folder (empty = all present).
pub async fn missing_privileges(c: &VcClient) -> VcResult<Vec<String>> {
    let n = c.negotiate().await?;
    let auth = n.content.authorization();
    let root = n.content.root_folder.clone();
    let user = c.config().username.clone();
    let r: Vec<UserPrivilegeResult> = c
        .vim_post(
            &auth,
            "FetchUserPrivilegeOnEntities",
            Some(json!({"entities": [root], "userName": user})),
            Idempotency::Read,
        )
        .await?
        .unwrap_or_default();
    let have: Vec<String> = r.into_iter().flat_map(|r| r.privileges).collect();
    Ok(PHASE1_PRIVILEGES
        .iter()
        .filter(|p| !have.iter().any(|h| h == *p))
        .map(|p| p.to_string())
        .collect())
}
