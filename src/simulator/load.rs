//! The load of a running VM or host, the one model behind both `summary.quickStats` and the
//! performance manager's realtime samples, so the two agree as they do on vCenter (quickStats
//! are the latest 20 s sample). Values are a deterministic function of the object and the
//! sample time: every reader at the same time sees the same numbers, and they move from one
//! sample to the next.
//!
//! Only a powered-on, connected VM and a connected, powered-on host have a load; anything else
//! has no realtime samples and zero quickStats.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::inventory::ManagedObject;

/// vCenter's realtime sampling period (`refreshRate`), in seconds.
pub const REFRESH_SECS: i64 = 20;

/// The start of the 20 s sample holding `t`.
pub fn sample_time(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::seconds(REFRESH_SECS))
        .unwrap_or(t)
}

/// One object's load at one sample time. CPU in MHz, memory in MB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Load {
    /// `overallCpuUsage` / `cpu.usagemhz`.
    pub cpu_mhz: i64,
    /// What 100 % CPU is: a VM's `runtime.maxCpuUsage`, a host's cores x MHz.
    pub cpu_capacity_mhz: i64,
    /// Active memory: a VM's `guestMemoryUsage`, `mem.active`.
    pub mem_active_mb: i64,
    /// Consumed memory: a VM's `hostMemoryUsage`, a host's `overallMemoryUsage`, `mem.consumed`.
    pub mem_consumed_mb: i64,
    /// Configured (VM) or physical (host) memory.
    pub mem_capacity_mb: i64,
    /// Seconds since `runtime.bootTime`.
    pub uptime_secs: i64,
}

impl Load {
    /// `cpu.usage` in hundredths of a percent, as the counter is served.
    pub fn cpu_usage(&self) -> i64 {
        hundredths(self.cpu_mhz, self.cpu_capacity_mhz)
    }

    /// `mem.usage` in hundredths of a percent: active over configured memory for a VM (what
    /// vCenter's VM counter measures), consumed over physical memory for a host.
    pub fn mem_usage(&self, kind: &str) -> i64 {
        let used = if kind == "VirtualMachine" {
            self.mem_active_mb
        } else {
            self.mem_consumed_mb
        };
        hundredths(used, self.mem_capacity_mb)
    }
}

fn hundredths(part: i64, whole: i64) -> i64 {
    if whole <= 0 {
        0
    } else {
        part * 10_000 / whole
    }
}

/// Whether the object is running: only then does it have samples and non-zero quickStats.
pub fn running(obj: &ManagedObject) -> bool {
    let s = |p: &str| obj.get_path(p).and_then(Value::as_str);
    match obj.moref.kind.as_str() {
        "VirtualMachine" => {
            s("runtime.powerState") == Some("poweredOn")
                && s("runtime.connectionState") == Some("connected")
        }
        "HostSystem" => {
            s("runtime.connectionState") == Some("connected")
                && s("runtime.powerState") == Some("poweredOn")
        }
        _ => false,
    }
}

/// A share in 0.05..0.95 for `salt` of this object at `t`: a per-object level plus a slow wave.
fn share(moid: &str, salt: &str, t: DateTime<Utc>) -> f64 {
    let mut h = Sha256::new();
    h.update(moid.as_bytes());
    h.update(salt.as_bytes());
    let d = h.finalize();
    let base = f64::from(u16::from_le_bytes([d[0], d[1]])) / 65_535.0;
    // The phase comes from other bits than the level: tied to the level, every busy object
    // peaked at the same hour, and how many crossed an alarm threshold swung with the wall clock
    // (an hour-long cycle of churn no vCenter shows; docs/decisions.md).
    let phase = f64::from(u16::from_le_bytes([d[2], d[3]])) / 65_535.0;
    let wave = ((t.timestamp() as f64 / 600.0) + phase * std::f64::consts::TAU).sin() * 0.15;
    (base * 0.6 + 0.2 + wave).clamp(0.05, 0.95)
}

fn int_at(obj: &ManagedObject, path: &str) -> i64 {
    obj.get_path(path).and_then(Value::as_i64).unwrap_or(0)
}

/// The load of `obj` in the sample holding `t`; `None` when it is not running.
pub fn sample(obj: &ManagedObject, t: DateTime<Utc>) -> Option<Load> {
    if !running(obj) {
        return None;
    }
    let t = sample_time(t);
    let id = obj.moref.value.as_str();
    let (cpu_capacity_mhz, mem_capacity_mb) = match obj.moref.kind.as_str() {
        "VirtualMachine" => (
            int_at(obj, "runtime.maxCpuUsage"),
            int_at(obj, "config.hardware.memoryMB"),
        ),
        _ => (
            int_at(obj, "summary.hardware.cpuMhz") * int_at(obj, "summary.hardware.numCpuCores"),
            int_at(obj, "summary.hardware.memorySize") / (1024 * 1024),
        ),
    };
    let cpu = share(id, "cpu", t);
    let mem = share(id, "mem", t);
    // Consumed memory is at least the active set and grows more slowly than it shrinks.
    let (active, consumed) = if obj.moref.kind == "VirtualMachine" {
        (mem, mem + (1.0 - mem) * 0.5)
    } else {
        (mem * 0.6, mem)
    };
    let boot = obj
        .get_path("runtime.bootTime")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|b| b.with_timezone(&Utc));
    Some(Load {
        cpu_mhz: (cpu * cpu_capacity_mhz as f64).round() as i64,
        cpu_capacity_mhz,
        mem_active_mb: (active * mem_capacity_mb as f64).round() as i64,
        mem_consumed_mb: (consumed * mem_capacity_mb as f64).round() as i64,
        mem_capacity_mb,
        uptime_secs: boot.map_or(0, |b| (t - b).num_seconds().max(0)),
    })
}

/// `summary.quickStats` of `obj` at `now`: the stored value with the load fields replaced by
/// the latest sample, or zeros when the object is not running. `None` for other types.
pub fn quick_stats(obj: &ManagedObject, now: DateTime<Utc>) -> Option<Value> {
    let mut qs = obj.get_path("summary.quickStats")?.clone();
    let l = sample(obj, now);
    let o = qs.as_object_mut()?;
    let mut put = |k: &str, v: i64| {
        o.insert(k.to_string(), json!(v));
    };
    match obj.moref.kind.as_str() {
        "VirtualMachine" => {
            put("overallCpuUsage", l.map_or(0, |l| l.cpu_mhz));
            put("guestMemoryUsage", l.map_or(0, |l| l.mem_active_mb));
            put("hostMemoryUsage", l.map_or(0, |l| l.mem_consumed_mb));
            put("uptimeSeconds", l.map_or(0, |l| l.uptime_secs));
        }
        "HostSystem" => {
            put("overallCpuUsage", l.map_or(0, |l| l.cpu_mhz));
            put("overallMemoryUsage", l.map_or(0, |l| l.mem_consumed_mb));
            put("uptime", l.map_or(0, |l| l.uptime_secs));
        }
        _ => return None,
    }
    Some(qs)
}

/// The value of `path` on `obj` as served at `now`: stored, except that `summary` and
/// `summary.quickStats[.field]` of VMs and hosts carry the live quickStats.
pub fn live_path<'a>(
    obj: &'a ManagedObject,
    path: &str,
    now: DateTime<Utc>,
) -> Option<std::borrow::Cow<'a, Value>> {
    use std::borrow::Cow;
    let stored = obj.get_path(path).map(Cow::Borrowed);
    let rest = match path {
        "summary" => Some(""),
        _ => path.strip_prefix("summary.quickStats"),
    };
    let Some(rest) = rest.filter(|r| r.is_empty() || r.starts_with('.')) else {
        return stored;
    };
    let Some(qs) = quick_stats(obj, now) else {
        return stored;
    };
    if path == "summary" {
        let mut s = stored?.into_owned();
        if let Some(o) = s.as_object_mut() {
            o.insert("quickStats".into(), qs);
        }
        return Some(Cow::Owned(s));
    }
    match rest.strip_prefix('.') {
        None => Some(Cow::Owned(qs)),
        Some(field) => qs.get(field).cloned().map(Cow::Owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::inventory::MoRef;

    fn vm(power: &str) -> ManagedObject {
        let mut props = serde_json::Map::new();
        props.insert(
            "runtime".into(),
            json!({"powerState": power, "connectionState": "connected", "maxCpuUsage": 8000,
                   "bootTime": "2026-01-01T00:00:00.000Z"}),
        );
        props.insert("config".into(), json!({"hardware": {"memoryMB": 4096}}));
        props.insert(
            "summary".into(),
            json!({"quickStats": {"overallCpuUsage": 0, "guestHeartbeatStatus": "green"}, "overallStatus": "green"}),
        );
        ManagedObject {
            moref: MoRef::new("VirtualMachine", "vm-7"),
            props,
        }
    }

    #[test]
    fn quick_stats_are_the_sample_of_the_same_time() {
        let o = vm("poweredOn");
        let now = Utc::now();
        let l = sample(&o, now).expect("running");
        assert!(l.cpu_mhz > 0 && l.cpu_mhz < 8000);
        assert!(l.mem_consumed_mb >= l.mem_active_mb);
        assert_eq!(l.cpu_usage(), l.cpu_mhz * 10_000 / 8000);
        let qs = quick_stats(&o, now).expect("a VM");
        assert_eq!(qs["overallCpuUsage"], l.cpu_mhz);
        assert_eq!(qs["guestMemoryUsage"], l.mem_active_mb);
        assert_eq!(qs["uptimeSeconds"], l.uptime_secs);
        // Fields the model does not own are kept.
        assert_eq!(qs["guestHeartbeatStatus"], "green");
        // Within one 20 s sample the values do not change.
        assert_eq!(sample(&o, sample_time(now)), Some(l));
    }

    #[test]
    fn the_share_above_an_alarm_threshold_holds_steady_through_the_wave() {
        // Sampled every 5 minutes over one period of the wave: with the phase tied to the level,
        // the count above 90 % went 0, 0, 101, 268, 388, then 0 for forty minutes.
        let t0 = DateTime::from_timestamp(0, 0).unwrap();
        let counts: Vec<usize> = (0..13)
            .map(|k| {
                let t = t0 + TimeDelta::seconds(300 * k);
                (0..5_000)
                    .filter(|i| share(&format!("vm-{i}"), "cpu", t) > 0.9)
                    .count()
            })
            .collect();
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(*min > 0 && min * 2 > *max, "{counts:?}");
    }

    #[test]
    fn an_object_not_running_has_no_load() {
        for power in ["poweredOff", "suspended"] {
            let o = vm(power);
            assert_eq!(sample(&o, Utc::now()), None);
            let qs = quick_stats(&o, Utc::now()).expect("a VM");
            assert_eq!(qs["overallCpuUsage"], 0);
            assert_eq!(qs["hostMemoryUsage"], 0);
            assert_eq!(qs["uptimeSeconds"], 0);
        }
    }

    #[test]
    fn live_paths_overlay_only_quick_stats() {
        let o = vm("poweredOn");
        let now = Utc::now();
        let cpu = sample(&o, now).expect("running").cpu_mhz;
        let whole = live_path(&o, "summary", now).expect("summary");
        assert_eq!(whole["quickStats"]["overallCpuUsage"], cpu);
        assert_eq!(whole["overallStatus"], "green");
        let leaf = live_path(&o, "summary.quickStats.overallCpuUsage", now).expect("leaf");
        assert_eq!(*leaf, json!(cpu));
        assert!(matches!(
            live_path(&o, "runtime.powerState", now),
            Some(std::borrow::Cow::Borrowed(_))
        ));
        assert_eq!(live_path(&o, "summary.quickStatsX", now), None);
    }
}
