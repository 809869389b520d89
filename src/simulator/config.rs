//! Simulator configuration: inventory size, users, claimed release, initial faults.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

/// What a simulated user may do. Mirrors the roles the issue asks for, which map onto vCenter
/// privilege sets (see `sessions::privileges_for`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every privilege.
    Admin,
    /// `System.Anonymous`, `System.View`, `System.Read`.
    Readonly,
    /// Read-only, but performance queries fault with `NoPermission`.
    Noperf,
    /// Can log in, may read nothing.
    None,
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "readonly" => Ok(Role::Readonly),
            "noperf" => Ok(Role::Noperf),
            "none" => Ok(Role::None),
            other => Err(format!(
                "unknown role `{other}` (expected admin, readonly, noperf or none)"
            )),
        }
    }
}

/// A user the simulator accepts on both API families.
#[derive(Clone, Debug, Serialize)]
pub struct SimUser {
    /// Login name, matched case-insensitively like vCenter's SSO domain users.
    pub name: String,
    /// Clear-text password (the simulator is a test tool; it prints its users on start).
    pub password: String,
    /// Privilege set.
    pub role: Role,
}

impl FromStr for SimUser {
    type Err = String;
    /// Parses `NAME:PASSWORD:ROLE`. The password may not contain `:`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.splitn(3, ':').collect();
        match parts.as_slice() {
            [name, password, role] if !name.is_empty() => Ok(SimUser {
                name: (*name).to_string(),
                password: (*password).to_string(),
                role: role.parse()?,
            }),
            _ => Err(format!("expected NAME:PASSWORD:ROLE, got `{s}`")),
        }
    }
}

/// The release the simulator claims to be. `6.7` and `7.0.3` have no VI JSON at all. Variants
/// are in release order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum ApiRelease {
    /// vCenter 6.7: `/api` is the vAPI JSON-RPC endpoint, which answers any REST call with
    /// HTTP 500 and a JSON-RPC error; `/sdk/vim25/...` answers 404.
    V6_7,
    /// vCenter 7.0.3: Automation REST only; `/sdk/vim25/...` answers 404.
    V7_0_3,
    /// vCenter 8.0 Update 1, the first release with VI JSON.
    V8_0_1,
    /// vCenter 8.0 Update 2.
    V8_0_2,
    /// vCenter 8.0 Update 3 (default).
    V8_0_3,
    /// vCenter 9.0.
    V9_0_0,
    /// vCenter 9.1: serves VI JSON 9.1.0.0 and every earlier release from 8.0.1.0.
    V9_1_0,
}

impl ApiRelease {
    /// The release string as vCenter spells it in `about.apiVersion` and VI JSON URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiRelease::V6_7 => "6.7.3",
            ApiRelease::V7_0_3 => "7.0.3.0",
            ApiRelease::V8_0_1 => "8.0.1.0",
            ApiRelease::V8_0_2 => "8.0.2.0",
            ApiRelease::V8_0_3 => "8.0.3.0",
            ApiRelease::V9_0_0 => "9.0.0.0",
            ApiRelease::V9_1_0 => "9.1.0.0",
        }
    }

    /// Whether `/sdk/vim25/...` exists at all (from 8.0 Update 1).
    pub fn has_vi_json(self) -> bool {
        self >= ApiRelease::V8_0_1
    }

    /// Whether `/api` is the Automation REST API (from 7.0); on 6.7 it is vAPI JSON-RPC.
    pub fn has_rest_api(self) -> bool {
        self >= ApiRelease::V7_0_3
    }

    /// VI JSON releases this simulator serves in URLs: every release from 8.0.1.0 up to its own.
    pub fn vi_json_releases(self) -> Vec<&'static str> {
        let all = [
            ApiRelease::V8_0_1,
            ApiRelease::V8_0_2,
            ApiRelease::V8_0_3,
            ApiRelease::V9_0_0,
            ApiRelease::V9_1_0,
        ];
        if !self.has_vi_json() {
            return Vec::new();
        }
        all.iter()
            .filter(|r| **r <= self)
            .map(|r| r.as_str())
            .collect()
    }

    /// Product version shown in `about.version` and the appliance version.
    pub fn product_version(self) -> &'static str {
        match self {
            ApiRelease::V6_7 => "6.7.0",
            ApiRelease::V7_0_3 => "7.0.3",
            ApiRelease::V8_0_1 => "8.0.1",
            ApiRelease::V8_0_2 => "8.0.2",
            ApiRelease::V8_0_3 => "8.0.3",
            ApiRelease::V9_0_0 => "9.0.0",
            ApiRelease::V9_1_0 => "9.1.0",
        }
    }

    /// The ESXi build of the same release (ESXi and vCenter number builds separately).
    pub fn esxi_build(self) -> &'static str {
        match self {
            ApiRelease::V6_7 => "15160138",
            ApiRelease::V7_0_3 => "18644231",
            ApiRelease::V8_0_1 => "21495797",
            ApiRelease::V8_0_2 => "22380479",
            ApiRelease::V8_0_3 => "24022510",
            ApiRelease::V9_0_0 => "24755229",
            ApiRelease::V9_1_0 => "25011567",
        }
    }

    /// A build number in the range vCenter uses for that release.
    pub fn build(self) -> &'static str {
        match self {
            ApiRelease::V6_7 => "14367737",
            ApiRelease::V7_0_3 => "21477706",
            ApiRelease::V8_0_1 => "21560480",
            ApiRelease::V8_0_2 => "22385739",
            ApiRelease::V8_0_3 => "24322831",
            ApiRelease::V9_0_0 => "24755230",
            ApiRelease::V9_1_0 => "25011569",
        }
    }
}

impl FromStr for ApiRelease {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "6.7" | "6.7.0" | "6.7.3" => Ok(ApiRelease::V6_7),
            "7.0.3" | "7.0.3.0" => Ok(ApiRelease::V7_0_3),
            "8.0.1" | "8.0.1.0" => Ok(ApiRelease::V8_0_1),
            "8.0.2" | "8.0.2.0" => Ok(ApiRelease::V8_0_2),
            "8.0.3" | "8.0.3.0" => Ok(ApiRelease::V8_0_3),
            "9.0.0" | "9.0.0.0" => Ok(ApiRelease::V9_0_0),
            "9.1" | "9.1.0" | "9.1.0.0" => Ok(ApiRelease::V9_1_0),
            other => Err(format!(
                "unknown release `{other}` (expected 6.7, 7.0.3, 8.0.1.0, 8.0.2.0, 8.0.3.0, 9.0.0.0 or 9.1.0.0)"
            )),
        }
    }
}

/// What kind of endpoint the simulator answers as (`about.apiType`). An ESXi host speaks VI JSON
/// too, so a client can only tell it from vCenter by this field; `HostAgent` exists to prove that
/// clients refuse it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum ApiType {
    /// vCenter Server (default).
    #[default]
    VirtualCenter,
    /// A standalone ESXi host: `about` names VMware ESXi and there is no Automation REST API
    /// (every `/api` path answers 404).
    HostAgent,
}

impl ApiType {
    /// The value of `about.apiType`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiType::VirtualCenter => "VirtualCenter",
            ApiType::HostAgent => "HostAgent",
        }
    }
}

impl FromStr for ApiType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "virtualcenter" | "vcenter" => Ok(ApiType::VirtualCenter),
            "hostagent" | "esxi" => Ok(ApiType::HostAgent),
            _ => Err(format!(
                "unknown API type `{s}` (expected VirtualCenter or HostAgent)"
            )),
        }
    }
}

/// Inventory size presets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// ~4 hosts, ~40 VMs.
    Small,
    /// ~100 hosts, ~3,000 VMs.
    Medium,
    /// ~500 hosts, ~10,000 VMs.
    Large,
    /// The vCenter 8 maximums: 2,500 hosts, 45,000 VMs, ~1,000 datastores.
    Max,
    /// A small lab as a field report described it: vCenter 8.0.3 managing one standalone host
    /// (a `ComputeResource`, no cluster) with six VMs on standard port groups, one local
    /// datastore, statistics level 1.
    Pulse2070,
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "small" => Ok(Profile::Small),
            "medium" => Ok(Profile::Medium),
            "large" => Ok(Profile::Large),
            "max" => Ok(Profile::Max),
            "pulse2070" => Ok(Profile::Pulse2070),
            other => Err(format!(
                "unknown profile `{other}` (expected small, medium, large, max or pulse2070)"
            )),
        }
    }
}

/// Object counts the generator builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct InventorySize {
    /// Datacenters.
    pub datacenters: usize,
    /// ESXi hosts (clustered and standalone).
    pub hosts: usize,
    /// Virtual machines.
    pub vms: usize,
    /// Datastores.
    pub datastores: usize,
}

impl Profile {
    /// The counts of this profile.
    pub fn size(self) -> InventorySize {
        match self {
            Profile::Small => InventorySize {
                datacenters: 1,
                hosts: 4,
                vms: 40,
                datastores: 4,
            },
            Profile::Medium => InventorySize {
                datacenters: 2,
                hosts: 100,
                vms: 3_000,
                datastores: 40,
            },
            Profile::Large => InventorySize {
                datacenters: 4,
                hosts: 500,
                vms: 10_000,
                datastores: 200,
            },
            Profile::Max => InventorySize {
                datacenters: 8,
                hosts: 2_500,
                vms: 45_000,
                datastores: 1_000,
            },
            // One host is generated standalone, with its local datastore.
            Profile::Pulse2070 => InventorySize {
                datacenters: 1,
                hosts: 1,
                vms: 6,
                datastores: 1,
            },
        }
    }
}

/// Everything needed to start a simulator.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Seed for the generated inventory; the same seed gives the same inventory and instanceUuid.
    pub seed: u64,
    /// Object counts.
    pub size: InventorySize,
    /// Accepted users.
    pub users: Vec<SimUser>,
    /// What release the simulator claims to be.
    pub api_release: ApiRelease,
    /// vCenter, or an ESXi host (`about.apiType`).
    pub api_type: ApiType,
    /// Inventory changes per second made by the change engine (0 disables it).
    pub change_rate: f64,
    /// PEM certificate chain and private key; `None` generates a self-signed certificate.
    pub tls: Option<(String, String)>,
    /// Idle timeout of API sessions (vCenter's default is 30 minutes).
    pub idle_timeout: Duration,
    /// `config.vpxd.stats.maxQueryMetrics` (-1 = unlimited).
    pub max_query_metrics: i64,
    /// Maximum concurrent sessions per family (`None` = unlimited); logins above it get 503.
    pub session_limit: Option<usize>,
    /// Whether `POST /api/vcenter/system?action=hello` exists (releases and builds differ);
    /// without it a client must find the release from a ServiceInstance.
    pub hello: bool,
    /// Statistics level of the historical intervals (1-4; vCenter ships 1): rollups keep only
    /// counters at or below it. Realtime samples keep every counter.
    pub stats_level: u8,
    /// How a VI JSON release newer than this vCenter answers: 404 (default) or, as some 8.0.3
    /// builds do for a 9.0 probe, HTTP 500.
    pub unknown_release_status: u16,
    /// Whether some clusters' datastores are grouped into datastore clusters (`StoragePod`);
    /// on by default for the medium and max profiles.
    pub storage_pods: bool,
}

impl SimConfig {
    /// A config for `profile` on `127.0.0.1:0` with the default user `admin:admin:admin`.
    pub fn with_profile(profile: Profile) -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: 1,
            size: profile.size(),
            users: vec![SimUser {
                name: "admin".into(),
                password: "admin".into(),
                role: Role::Admin,
            }],
            api_release: ApiRelease::V8_0_3,
            api_type: ApiType::VirtualCenter,
            change_rate: 0.0,
            tls: None,
            idle_timeout: Duration::from_secs(30 * 60),
            max_query_metrics: 256,
            session_limit: None,
            hello: true,
            unknown_release_status: 404,
            stats_level: 1,
            storage_pods: matches!(profile, Profile::Medium | Profile::Max),
        }
    }

    /// The `small` profile with no change engine: the usual test setup.
    pub fn small() -> Self {
        Self::with_profile(Profile::Small)
    }

    /// Adds a user (builder style, for tests).
    pub fn user(mut self, name: &str, password: &str, role: Role) -> Self {
        self.users.push(SimUser {
            name: name.into(),
            password: password.into(),
            role,
        });
        self
    }
}
