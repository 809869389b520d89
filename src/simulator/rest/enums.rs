//! VI enum values (camelCase, as the inventory stores them) to their Automation REST spellings
//! (UPPER_CASE, per `vcenter-automation-*.swagger2.json`).

use crate::simulator::inventory::ManagedObject;

/// `VcenterVmPowerState`.
pub const VM_POWER_STATES: &[&str] = &["POWERED_OFF", "POWERED_ON", "SUSPENDED"];
/// `VcenterHostConnectionState`.
pub const HOST_CONNECTION_STATES: &[&str] = &["CONNECTED", "DISCONNECTED", "NOT_RESPONDING"];
/// `VcenterDatastoreType`.
pub const DATASTORE_TYPES: &[&str] = &["VMFS", "NFS", "NFS41", "CIFS", "VSAN", "VFFS", "VVOL"];
/// `VcenterFolderType`.
pub const FOLDER_TYPES: &[&str] = &[
    "DATACENTER",
    "DATASTORE",
    "HOST",
    "NETWORK",
    "VIRTUAL_MACHINE",
];
/// `VcenterNetworkType`.
pub const NETWORK_TYPES: &[&str] = &[
    "STANDARD_PORTGROUP",
    "DISTRIBUTED_PORTGROUP",
    "OPAQUE_NETWORK",
];

/// `VirtualMachinePowerState` -> `VcenterVmPowerState`.
pub fn vm_power_state(vi: &str) -> &'static str {
    match vi {
        "poweredOn" => "POWERED_ON",
        "suspended" => "SUSPENDED",
        _ => "POWERED_OFF",
    }
}

/// `HostSystemConnectionState` -> `VcenterHostConnectionState`.
pub fn host_connection_state(vi: &str) -> &'static str {
    match vi {
        "connected" => "CONNECTED",
        "notResponding" => "NOT_RESPONDING",
        _ => "DISCONNECTED",
    }
}

/// `HostSystemPowerState` -> `VcenterHostPowerState`.
pub fn host_power_state(vi: &str) -> &'static str {
    match vi {
        "poweredOn" => "POWERED_ON",
        "standBy" => "STANDBY",
        _ => "POWERED_OFF",
    }
}

/// `DatastoreSummary.type` (`VMFS`, `NFS`, `vsan`, ...) -> `VcenterDatastoreType`.
pub fn datastore_type(vi: &str) -> String {
    vi.to_ascii_uppercase()
}

/// A folder's `VcenterFolderType`, from the child types it may hold.
pub fn folder_type(folder: &ManagedObject) -> &'static str {
    let holds = |t: &str| {
        folder
            .get_path("childType")
            .and_then(|v| v.as_array())
            .is_some_and(|a| a.iter().any(|c| c.as_str() == Some(t)))
    };
    if holds("Datacenter") {
        "DATACENTER"
    } else if holds("VirtualMachine") {
        "VIRTUAL_MACHINE"
    } else if holds("ComputeResource") {
        "HOST"
    } else if holds("Datastore") {
        "DATASTORE"
    } else {
        "NETWORK"
    }
}

/// A network's `VcenterNetworkType`, from its managed object type.
pub fn network_type(kind: &str) -> &'static str {
    match kind {
        "DistributedVirtualPortgroup" => "DISTRIBUTED_PORTGROUP",
        "OpaqueNetwork" => "OPAQUE_NETWORK",
        _ => "STANDARD_PORTGROUP",
    }
}

/// `guestId` -> `VcenterVmGuestOS`. The REST names are not a mechanical transform of the VI ids
/// (`windows2019srvNext_64Guest` is `WINDOWS_SERVER_2021`), so known ids are listed; anything
/// else is `OTHER_64`, which the enum always has.
pub fn guest_os(guest_id: &str) -> &'static str {
    match guest_id {
        "ubuntu64Guest" => "UBUNTU_64",
        "rhel9_64Guest" => "RHEL_9_64",
        "rhel8_64Guest" => "RHEL_8_64",
        "debian11_64Guest" => "DEBIAN_11_64",
        "debian12_64Guest" => "DEBIAN_12_64",
        "windows2019srv_64Guest" => "WINDOWS_SERVER_2019",
        "windows2019srvNext_64Guest" => "WINDOWS_SERVER_2021",
        "windows2022srvNext_64Guest" => "WINDOWS_SERVER_2025",
        "otherLinux64Guest" => "OTHER_LINUX_64",
        _ => "OTHER_64",
    }
}

/// `guestFamily` -> `VcenterVmGuestOSFamily`.
pub fn guest_family(vi: &str) -> &'static str {
    match vi {
        "windowsGuest" => "WINDOWS",
        "linuxGuest" => "LINUX",
        "netwareGuest" => "NETWARE",
        "solarisGuest" => "SOLARIS",
        "darwinGuestFamily" => "DARWIN",
        _ => "OTHER",
    }
}
