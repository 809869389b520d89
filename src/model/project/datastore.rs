//! Datastores -> canonical storage: what the collector requests of a datastore, and its
//! projection.

use serde_json::Value;

use super::{owned, Pass};
use crate::model::paths::{fields, Kind};
use crate::model::raw::{moid_of, RawObject};
use crate::model::resources::{HostMount, Storage};
use crate::model::{status, topology};

/// What the collector requests of every datastore.
pub const KIND: Kind = Kind {
    name: "Datastore",
    paths: &[
        "name",
        "parent",
        "summary",
        "host",
        "vm",
        "triggeredAlarmState",
        "overallStatus",
    ],
    keep: &[],
};

fields!(FIELDS for [&KIND] {
    NAME = "name";
    PARENT = "parent";
    ACCESSIBLE = "summary.accessible";
    MAINTENANCE_MODE = "summary.maintenanceMode";
    TYPE = "summary.type";
    CAPACITY = "summary.capacity";
    FREE_SPACE = "summary.freeSpace";
    UNCOMMITTED = "summary.uncommitted";
    URL = "summary.url";
    MULTIPLE_HOST_ACCESS = "summary.multipleHostAccess";
    /// `DatastoreHostMount` per host.
    MOUNTS = "host";
    VMS = "vm";
    OVERALL_STATUS = "overallStatus";
});

impl Pass<'_> {
    pub(super) fn storage(&self, moid: &str, o: &RawObject) -> Storage {
        let alerts = self.alerts_of(moid, o);
        let accessible = o.bool(ACCESSIBLE);
        let maintenance = owned(o.str(MAINTENANCE_MODE));
        let mounts = o
            .array(MOUNTS)
            .iter()
            .filter_map(|m| {
                let info = m.get("mountInfo");
                let text = |k: &str| {
                    info.and_then(|i| i.get(k))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                };
                let flag = |k: &str| info.and_then(|i| i.get(k)).and_then(Value::as_bool);
                Some(HostMount {
                    host_id: self.id(m.get("key").and_then(moid_of)?),
                    path: text("path"),
                    access_mode: text("accessMode"),
                    mounted: flag("mounted"),
                    accessible: flag("accessible"),
                })
            })
            .collect();
        Storage {
            id: self.id(moid),
            moid: moid.to_string(),
            name: o.str(NAME).unwrap_or(moid).to_string(),
            status: status::datastore_status(
                accessible,
                maintenance.as_deref(),
                Self::worst(&alerts),
            ),
            ds_type: owned(o.str(TYPE)),
            capacity_bytes: o.i64(CAPACITY),
            free_bytes: o.i64(FREE_SPACE),
            uncommitted_bytes: o.i64(UNCOMMITTED),
            accessible,
            maintenance_mode: maintenance,
            url: owned(o.str(URL)),
            multiple_host_access: o.bool(MULTIPLE_HOST_ACCESS),
            overall_status: owned(o.str(OVERALL_STATUS)),
            mounts,
            vm_ids: o.moids(VMS).into_iter().map(|v| self.id(v)).collect(),
            placement: self.placement(topology::datastore_placement(
                &self.around.topo,
                o.moid(PARENT),
            )),
            alerts,
            tags: self.tags(moid),
        }
    }
}
