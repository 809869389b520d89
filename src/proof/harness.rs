//! The scratch service a proof runs through: the same store, registry, collectors and GraphQL
//! server as `serve`, on a store in a fresh directory and a loopback port, with one admin and
//! one assistant token made for the run and known to no one else.

use std::path::PathBuf;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use crate::auth::{AuthConfig, Authenticator, Role, TokenConfig};
use crate::collector::CollectorConfig;
use crate::config::{StoreSettings, HISTORY_DAYS_DEFAULT};
use crate::ondemand::BudgetSettings;
use crate::server::Access;
use crate::service::{Service, StartError};
use crate::store::StoreLocation;

pub struct Harness {
    graphql: String,
    admin: String,
    assistant: String,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<Result<(), StartError>>>,
    dir: PathBuf,
}

/// A GraphQL answer that carried errors (their codes and messages), or no answer at all.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GraphqlError(pub String);

fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn token(name: &str, role: Role, token: &str) -> TokenConfig {
    TokenConfig {
        name: name.into(),
        role,
        token_env: None,
        token_file: None,
        token_sha256: Some(hex::encode(Sha256::digest(token.as_bytes()))),
    }
}

impl Harness {
    /// Starts the scratch service.
    pub async fn start(safelist: bool) -> Result<Harness, StartError> {
        let dir =
            std::env::temp_dir().join(format!("pulse-vsphere-proof-{}", uuid::Uuid::new_v4()));
        let settings = StoreSettings {
            location: StoreLocation::Sqlite {
                data_dir: dir.clone(),
            },
            key_file: dir.join("secret.key"),
            data_dir: dir.clone(),
            history_days: HISTORY_DAYS_DEFAULT,
        };
        let (admin, assistant) = (random_token(), random_token());
        let auth = Authenticator::from_config(&AuthConfig {
            tokens: vec![
                token("proof-admin", Role::Admin, &admin),
                token("proof-assistant", Role::Assistant, &assistant),
            ],
            jwt: None,
        })
        .map_err(|e| StartError::Listen(e.to_string()))?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| StartError::Listen(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| StartError::Listen(e.to_string()))?;
        // Never through a proxy: the tokens and the vCenter password go to loopback only.
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| StartError::Listen(e.to_string()))?;
        let started = Service::start(
            &settings,
            Vec::new(),
            CollectorConfig::default(),
            BudgetSettings::default(),
        )
        .await;
        let service = match started {
            Ok(s) => s,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let access = Access::new(auth).with_assistant_safelist(safelist);
        let stopped = async {
            let _ = stopped.await;
        };
        let server = tokio::spawn(crate::service::serve(
            service, listener, access, stopped, false,
        ));
        Ok(Harness {
            graphql: format!("http://{addr}/graphql"),
            admin,
            assistant,
            http,
            stop: Some(stop),
            server: Some(server),
            dir,
        })
    }

    /// Runs `query` as `role` (admin or assistant); the whole response.
    pub async fn post(&self, role: Role, body: Value) -> Result<Value, GraphqlError> {
        let token = if role == Role::Admin {
            &self.admin
        } else {
            &self.assistant
        };
        let r = self
            .http
            .post(&self.graphql)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map_err(|e| GraphqlError(format!("the scratch service did not answer: {e}")))?;
        r.json::<Value>()
            .await
            .map_err(|e| GraphqlError(format!("the scratch service answered no JSON: {e}")))
    }

    /// Runs `query` as `role`; its `data`, or the errors as one line.
    pub async fn query(
        &self,
        role: Role,
        query: &str,
        variables: Value,
    ) -> Result<Value, GraphqlError> {
        let v = self
            .post(role, json!({"query": query, "variables": variables}))
            .await?;
        match errors_of(&v) {
            Some(e) => Err(GraphqlError(e)),
            None => Ok(v["data"].clone()),
        }
    }

    /// Every item of a paged list: `query` takes `$after` and answers a connection at `path`
    /// (`nodes`, or `edges` whose `node` is taken), pages of 500, at most `limit` items.
    pub async fn all(
        &self,
        role: Role,
        query: &str,
        mut variables: Value,
        path: &[&str],
        limit: usize,
    ) -> Result<Vec<Value>, GraphqlError> {
        let mut out = Vec::new();
        loop {
            let data = self.query(role, query, variables.clone()).await?;
            let list = path.iter().fold(&data, |v, k| &v[*k]);
            if let Some(nodes) = list["nodes"].as_array() {
                out.extend(nodes.iter().cloned());
            } else if let Some(edges) = list["edges"].as_array() {
                out.extend(edges.iter().map(|e| e["node"].clone()));
            }
            let page = &list["pageInfo"];
            let next = page["endCursor"].clone();
            // A page that claims more but gives no new cursor would loop forever.
            let stuck = next.is_null() || next == variables["after"];
            if page["hasNextPage"] != Value::Bool(true) || out.len() >= limit || stuck {
                return Ok(out);
            }
            variables["after"] = next;
        }
    }

    /// Stops the server, which shuts the service down (collectors log their sessions out),
    /// and removes the scratch store.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for Harness {
    /// The scratch store holds a key file and a sealed password: never leave it behind, also
    /// when the run panics.
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The errors of a GraphQL response as `CODE: message; ...`, if it has any.
pub fn errors_of(v: &Value) -> Option<String> {
    let errors = v["errors"].as_array().filter(|e| !e.is_empty())?;
    Some(
        errors
            .iter()
            .map(|e| {
                format!(
                    "{}: {}",
                    e["extensions"]["code"].as_str().unwrap_or("ERROR"),
                    e["message"].as_str().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}
