//! History: incidents and their transitions, vCenter events and tasks, per connection. Every
//! write is keyed by what vCenter names the row by, so a batch written twice (a retry after a
//! timeout that did commit) changes nothing; a close seen first in a snapshot is corrected to
//! vCenter's time when the clearing event arrives.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::error::{from_sqlx, StoreError};
use super::{on_pool, Store};
use crate::inventory::incidents::{
    HistoryBatch, IncidentChange, IncidentKey, IncidentRecord, IncidentTransition, Resume,
};
use crate::model::alerts::AlertSeverity;

const OPEN_INCIDENT: &str = "INSERT INTO incidents (connection_id, id, alarm_moid, entity_moid, \
     resource_id, alarm_name, summary, severity, current_severity, started_us, ended_us, \
     ended_exact, acknowledged_us, acknowledged_by, last_event_key) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, NULL, 0, NULL, NULL, $10) \
     ON CONFLICT (connection_id, id) DO NOTHING";
const CHANGE_SEVERITY: &str = "UPDATE incidents SET current_severity = $3, \
     severity = CASE WHEN $3 = 'critical' THEN 'critical' ELSE severity END, \
     last_event_key = COALESCE($4, last_event_key) WHERE connection_id = $1 AND id = $2";
const ACKNOWLEDGE: &str = "UPDATE incidents SET acknowledged_us = $3, acknowledged_by = $4 \
     WHERE connection_id = $1 AND id = $2 AND acknowledged_us IS NULL";
// A close is written once, and corrected once from the collector's time to vCenter's.
const CLOSE: &str = "UPDATE incidents SET ended_us = $3, ended_exact = $4, \
     last_event_key = COALESCE($5, last_event_key) WHERE connection_id = $1 AND id = $2 \
     AND (ended_us IS NULL OR (ended_exact = 0 AND $4 = 1))";
const TRANSITION: &str = "INSERT INTO incident_transitions (connection_id, incident_id, tkey, \
     change, at_us, exact, severity, event_key, user_name, entity_moid, resource_id, summary) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
     ON CONFLICT (connection_id, incident_id, tkey) DO UPDATE SET at_us = excluded.at_us, \
     exact = excluded.exact, event_key = excluded.event_key \
     WHERE incident_transitions.exact = 0 AND excluded.exact = 1";
const EVENT: &str = "INSERT INTO events (connection_id, event_key, created_us, event_type, \
     message, user_name, subjects) VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (connection_id, event_key) DO NOTHING";
const SUBJECT: &str = "INSERT INTO event_subjects (connection_id, moid, event_key) \
     VALUES ($1, $2, $3) ON CONFLICT (connection_id, moid, event_key) DO NOTHING";
const CURSOR: &str = "INSERT INTO history_cursors (connection_id, last_event_key) VALUES ($1, $2) \
     ON CONFLICT (connection_id) DO UPDATE SET last_event_key = excluded.last_event_key \
     WHERE history_cursors.last_event_key < excluded.last_event_key";
const TASK: &str = "INSERT INTO tasks (connection_id, task_key, description_id, entity_moid, \
     entity_name, state, queued_us, completed_us, error) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (connection_id, task_key) \
     DO UPDATE SET state = excluded.state, completed_us = excluded.completed_us, \
     error = excluded.error WHERE tasks.completed_us IS NULL";
const INCIDENT_COLUMNS: &str =
    "connection_id, id, alarm_moid, entity_moid, started_us, resource_id, \
     summary, alarm_name, severity, current_severity, ended_us, acknowledged_us, \
     acknowledged_by, last_event_key";

/// How far before the newest stored task an unfinished one still holds the task cursor back.
const UNFINISHED_REACH_US: i64 = 24 * 3600 * 1_000_000;

/// Microseconds since the epoch, as history rows keep time.
pub fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(us: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| StoreError::RowInvalid {
        id: "history".into(),
        reason: format!("time {us} out of range"),
    })
}

fn severity_str(s: AlertSeverity) -> &'static str {
    match s {
        AlertSeverity::Critical => "critical",
        AlertSeverity::Warning => "warning",
    }
}

fn severity_of(s: &str) -> AlertSeverity {
    if s == "critical" {
        AlertSeverity::Critical
    } else {
        AlertSeverity::Warning
    }
}

/// The transition's row key within its incident: one open, acknowledgement and close each;
/// a severity change per event (or per time, when vCenter named no event).
fn transition_key(t: &IncidentTransition) -> String {
    match t.change {
        IncidentChange::SeverityChanged => {
            format!("severity@{}", t.event_key.unwrap_or_else(|| micros(t.at)))
        }
        other => other.as_str().to_string(),
    }
}

/// What filters a page of incidents.
#[derive(Clone, Debug, Default)]
pub struct IncidentQuery {
    pub connection_id: Option<String>,
    pub resource_id: Option<String>,
    pub severity: Option<AlertSeverity>,
    /// `Some(true)`: open only; `Some(false)`: closed only.
    pub open: Option<bool>,
    /// Started at or after.
    pub from: Option<DateTime<Utc>>,
    /// Started before.
    pub to: Option<DateTime<Utc>>,
}

/// Where an incident page continues: after (older than) this incident (start, connection,
/// [`IncidentKey::id`]).
pub type IncidentCursor = (i64, String, String);

/// One timeline entry: an event, a task or an incident transition.
#[derive(Clone, Debug, PartialEq)]
pub struct TimelineRow {
    /// `EVENT`, `TASK` or `ALERT`.
    pub kind: String,
    pub connection_id: String,
    /// Unique per kind and connection (event key, task key, incident id and transition).
    pub key: String,
    pub at: DateTime<Utc>,
    /// Event type, task description id, or incident change.
    pub title: String,
    /// Event message, task state or error, or incident summary.
    pub message: String,
    pub user: Option<String>,
    /// The object's moId (the first an event names).
    pub moid: Option<String>,
    /// Incident transitions: the severity after it.
    pub severity: Option<String>,
    /// The object's name as vCenter named it then (tasks: `entityName`).
    pub object_name: Option<String>,
}

/// What filters a page of the timeline.
#[derive(Clone, Debug)]
pub struct TimelineQuery {
    pub connection_id: Option<String>,
    /// Only entries about this object (`connection_id` should be set with it).
    pub moid: Option<String>,
    pub events: bool,
    pub tasks: bool,
    pub alerts: bool,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Where a timeline page continues: after (older than) this entry.
pub type TimelineCursor = (i64, String, String, String);

const TIMELINE: &str = "SELECT kind, connection_id, item_key, at_us, title, message, user_name, \
     moid, severity, object_name FROM ( \
       SELECT 'EVENT' AS kind, e.connection_id, CAST(e.event_key AS TEXT) AS item_key, \
         e.created_us AS at_us, e.event_type AS title, e.message, e.user_name, \
         (SELECT MIN(s.moid) FROM event_subjects s WHERE s.connection_id = e.connection_id \
           AND s.event_key = e.event_key) AS moid, NULL AS severity, NULL AS object_name \
       FROM events e WHERE $1 = 1 AND ($4 IS NULL OR e.connection_id = $4) \
         AND ($5 IS NULL OR EXISTS (SELECT 1 FROM event_subjects s \
           WHERE s.connection_id = e.connection_id AND s.event_key = e.event_key AND s.moid = $5)) \
       UNION ALL \
       SELECT 'TASK', t.connection_id, t.task_key, t.queued_us, t.description_id, \
         COALESCE(t.error, t.state), NULL, t.entity_moid, NULL, t.entity_name \
       FROM tasks t WHERE $2 = 1 AND ($4 IS NULL OR t.connection_id = $4) \
         AND ($5 IS NULL OR t.entity_moid = $5) \
       UNION ALL \
       SELECT 'ALERT', i.connection_id, i.incident_id || '/' || i.tkey, i.at_us, i.change, \
         i.summary, i.user_name, i.entity_moid, i.severity, NULL \
       FROM incident_transitions i WHERE $3 = 1 AND ($4 IS NULL OR i.connection_id = $4) \
         AND ($5 IS NULL OR i.entity_moid = $5) \
     ) t WHERE at_us >= $6 AND at_us < $7 \
       AND (at_us < $8 OR (at_us = $8 AND (kind < $9 OR (kind = $9 AND (connection_id < $10 \
         OR (connection_id = $10 AND item_key < $11)))))) \
     ORDER BY at_us DESC, kind DESC, connection_id DESC, item_key DESC LIMIT $12";

impl Store {
    /// Writes one history batch of `connection` in one transaction.
    ///
    /// # Errors
    /// `store_unavailable` and the other store classes; nothing of the batch is written then.
    #[tracing::instrument(name = "store.write", skip_all, fields(op = "history.write", backend = self.backend()))]
    pub async fn write_history(
        &self,
        connection: &str,
        batch: &HistoryBatch,
    ) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        on_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            for t in &batch.incidents {
                let id = t.incident.id();
                let q = match t.change {
                    IncidentChange::Opened => sqlx::query(OPEN_INCIDENT)
                        .bind(connection)
                        .bind(&id)
                        .bind(&t.incident.alarm_moid)
                        .bind(&t.incident.entity_moid)
                        .bind(&t.resource_id)
                        .bind(&t.alarm_name)
                        .bind(t.summary())
                        .bind(severity_str(t.severity))
                        .bind(micros(t.incident.started_at))
                        .bind(t.event_key),
                    IncidentChange::SeverityChanged => sqlx::query(CHANGE_SEVERITY)
                        .bind(connection)
                        .bind(&id)
                        .bind(severity_str(t.severity))
                        .bind(t.event_key),
                    IncidentChange::Acknowledged => sqlx::query(ACKNOWLEDGE)
                        .bind(connection)
                        .bind(&id)
                        .bind(micros(t.at))
                        .bind(t.user.as_deref()),
                    IncidentChange::Closed => sqlx::query(CLOSE)
                        .bind(connection)
                        .bind(&id)
                        .bind(micros(t.at))
                        .bind(i64::from(t.exact))
                        .bind(t.event_key),
                };
                q.execute(&mut *tx).await?;
                sqlx::query(TRANSITION)
                    .bind(connection)
                    .bind(&id)
                    .bind(transition_key(t))
                    .bind(t.change.as_str())
                    .bind(micros(t.at))
                    .bind(i64::from(t.exact))
                    .bind(severity_str(t.severity))
                    .bind(t.event_key)
                    .bind(t.user.as_deref())
                    .bind(&t.incident.entity_moid)
                    .bind(&t.resource_id)
                    .bind(t.summary())
                    .execute(&mut *tx)
                    .await?;
            }
            let mut newest: Option<i64> = None;
            for (subjects, e) in &batch.events {
                let created = e.created.map_or_else(|| micros(Utc::now()), micros);
                let subjects_json = serde_json::to_string(subjects).unwrap_or_default();
                sqlx::query(EVENT)
                    .bind(connection)
                    .bind(e.key)
                    .bind(created)
                    .bind(e.event_type.as_str())
                    .bind(e.message.as_str())
                    .bind(e.user.as_deref())
                    .bind(subjects_json)
                    .execute(&mut *tx)
                    .await?;
                for m in subjects {
                    sqlx::query(SUBJECT)
                        .bind(connection)
                        .bind(m.as_str())
                        .bind(e.key)
                        .execute(&mut *tx)
                        .await?;
                }
                newest = newest.max(Some(e.key));
            }
            if let Some(k) = newest {
                sqlx::query(CURSOR)
                    .bind(connection)
                    .bind(k)
                    .execute(&mut *tx)
                    .await?;
            }
            for t in &batch.tasks {
                sqlx::query(TASK)
                    .bind(connection)
                    .bind(t.key.as_str())
                    .bind(t.description_id.as_str())
                    .bind(t.entity_moid.as_deref())
                    .bind(t.entity_name.as_deref())
                    .bind(t.state.as_str())
                    .bind(t.queued.map_or_else(|| micros(Utc::now()), micros))
                    .bind(t.completed.map(micros))
                    .bind(t.error.as_deref())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        }
        .await)
        .map_err(from_sqlx)
    }

    /// The incidents of `connection` still open, and the newest event key stored.
    ///
    /// # Errors
    /// `store_unavailable`; `store_row_invalid` for a row the binary cannot read.
    pub async fn history_resume(&self, connection: &str) -> Result<Resume, StoreError> {
        let open_sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE connection_id = $1 AND ended_us IS NULL"
        );
        const CURSOR_SQL: &str =
            "SELECT last_event_key FROM history_cursors WHERE connection_id = $1";
        // The task history is read again from the newest task stored, or from the oldest one
        // stored unfinished within a day of it (it may have finished while the service was
        // down, out of the recent tasks' ten minutes by now).
        const TASK_CURSOR_SQL: &str = "SELECT COALESCE((SELECT MIN(u.queued_us) FROM tasks u \
             WHERE u.connection_id = $1 AND u.completed_us IS NULL \
             AND u.queued_us >= m.newest - $2), m.newest) \
             FROM (SELECT MAX(queued_us) AS newest FROM tasks WHERE connection_id = $1) m";
        on_pool!(self, |pool| {
            let rows = sqlx::query(&open_sql)
                .bind(connection)
                .fetch_all(pool)
                .await
                .map_err(from_sqlx)?;
            let open = rows.iter().map(incident).collect::<Result<Vec<_>, _>>()?;
            let last_event_key = sqlx::query(CURSOR_SQL)
                .bind(connection)
                .fetch_optional(pool)
                .await
                .and_then(|r| r.map(|r| r.try_get::<i64, _>(0)).transpose())
                .map_err(from_sqlx)?;
            let task_cursor = sqlx::query(TASK_CURSOR_SQL)
                .bind(connection)
                .bind(UNFINISHED_REACH_US)
                .fetch_one(pool)
                .await
                .and_then(|r| r.try_get::<Option<i64>, _>(0))
                .map_err(from_sqlx)?
                .map(from_micros)
                .transpose()?;
            Ok(Resume {
                open,
                last_event_key,
                task_cursor,
            })
        })
    }

    /// Deletes up to `limit` events and up to `limit` tasks of `connection` older than
    /// `before`; returns how many rows went.
    ///
    /// # Errors
    /// `store_unavailable`.
    #[tracing::instrument(name = "store.write", skip_all, fields(op = "history.prune", backend = self.backend()))]
    pub async fn prune_history(
        &self,
        connection: &str,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError> {
        const OLD_EVENTS: &str = "SELECT event_key FROM events WHERE connection_id = $1 \
             AND created_us < $2 ORDER BY created_us LIMIT $3";
        let subjects = format!(
            "DELETE FROM event_subjects WHERE connection_id = $1 AND event_key IN ({OLD_EVENTS})"
        );
        let events =
            format!("DELETE FROM events WHERE connection_id = $1 AND event_key IN ({OLD_EVENTS})");
        const TASKS: &str = "DELETE FROM tasks WHERE connection_id = $1 AND task_key IN \
             (SELECT task_key FROM tasks WHERE connection_id = $1 AND queued_us < $2 \
             ORDER BY queued_us LIMIT $3)";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        on_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            let mut n = 0;
            for sql in [subjects.as_str(), events.as_str(), TASKS] {
                let done = sqlx::query(sql)
                    .bind(connection)
                    .bind(micros(before))
                    .bind(limit)
                    .execute(&mut *tx)
                    .await?;
                // Subjects are part of their events, not rows of their own to count.
                if sql != subjects {
                    n += done.rows_affected();
                }
            }
            tx.commit().await.map(|()| n)
        }
        .await)
        .map_err(from_sqlx)
    }

    /// Up to `first` incidents, newest start first, after `cursor`.
    ///
    /// # Errors
    /// `store_unavailable`; `store_row_invalid`.
    pub async fn incidents_page(
        &self,
        q: &IncidentQuery,
        first: usize,
        cursor: Option<&IncidentCursor>,
    ) -> Result<Vec<IncidentRecord>, StoreError> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE ($1 IS NULL OR connection_id = $1) \
             AND ($2 IS NULL OR resource_id = $2) AND ($3 IS NULL OR severity = $3) \
             AND ($4 IS NULL OR ($4 = 1 AND ended_us IS NULL) OR ($4 = 0 AND ended_us IS NOT NULL)) \
             AND started_us >= $5 AND started_us < $6 \
             AND (started_us < $7 OR (started_us = $7 AND (connection_id < $8 \
               OR (connection_id = $8 AND id < $9)))) \
             ORDER BY started_us DESC, connection_id DESC, id DESC \
             LIMIT $10"
        );
        let (c_at, c_conn, c_id) =
            cursor
                .cloned()
                .unwrap_or((i64::MAX, String::new(), String::new()));
        let limit = i64::try_from(first).unwrap_or(i64::MAX);
        on_pool!(self, |pool| {
            let rows = sqlx::query(&sql)
                .bind(q.connection_id.as_deref())
                .bind(q.resource_id.as_deref())
                .bind(q.severity.map(severity_str))
                .bind(q.open.map(i64::from))
                .bind(q.from.map_or(i64::MIN, micros))
                .bind(q.to.map_or(i64::MAX, micros))
                .bind(c_at)
                .bind(&c_conn)
                .bind(&c_id)
                .bind(limit)
                .fetch_all(pool)
                .await
                .map_err(from_sqlx)?;
            rows.iter().map(incident).collect()
        })
    }

    /// Up to `first` timeline entries, newest first, after `cursor`.
    ///
    /// # Errors
    /// `store_unavailable`; `store_row_invalid`.
    pub async fn timeline_page(
        &self,
        q: &TimelineQuery,
        first: usize,
        cursor: Option<&TimelineCursor>,
    ) -> Result<Vec<TimelineRow>, StoreError> {
        // '~' sorts after every kind, so the first page starts at the newest entry.
        let (c_at, c_kind, c_conn, c_key) =
            cursor
                .cloned()
                .unwrap_or((i64::MAX, "~".to_string(), String::new(), String::new()));
        let limit = i64::try_from(first).unwrap_or(i64::MAX);
        on_pool!(self, |pool| {
            let rows = sqlx::query(TIMELINE)
                .bind(i64::from(q.events))
                .bind(i64::from(q.tasks))
                .bind(i64::from(q.alerts))
                .bind(q.connection_id.as_deref())
                .bind(q.moid.as_deref())
                .bind(q.from.map_or(i64::MIN, micros))
                .bind(q.to.map_or(i64::MAX, micros))
                .bind(c_at)
                .bind(&c_kind)
                .bind(&c_conn)
                .bind(&c_key)
                .bind(limit)
                .fetch_all(pool)
                .await
                .map_err(from_sqlx)?;
            rows.iter()
                .map(|r| {
                    Ok(TimelineRow {
                        kind: r.try_get("kind").map_err(from_sqlx)?,
                        connection_id: r.try_get("connection_id").map_err(from_sqlx)?,
                        key: r.try_get("item_key").map_err(from_sqlx)?,
                        at: from_micros(r.try_get("at_us").map_err(from_sqlx)?)?,
                        title: r.try_get("title").map_err(from_sqlx)?,
                        message: r.try_get("message").map_err(from_sqlx)?,
                        user: r.try_get("user_name").map_err(from_sqlx)?,
                        moid: r.try_get("moid").map_err(from_sqlx)?,
                        severity: r.try_get("severity").map_err(from_sqlx)?,
                        object_name: r.try_get("object_name").map_err(from_sqlx)?,
                    })
                })
                .collect()
        })
    }
}

fn incident<R: Row>(r: &R) -> Result<IncidentRecord, StoreError>
where
    usize: sqlx::ColumnIndex<R>,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let s = |c: &str| r.try_get::<String, _>(c).map_err(from_sqlx);
    let o = |c: &str| r.try_get::<Option<i64>, _>(c).map_err(from_sqlx);
    let time = |v: Option<i64>| v.map(from_micros).transpose();
    Ok(IncidentRecord {
        connection_id: s("connection_id")?,
        key: IncidentKey {
            alarm_moid: s("alarm_moid")?,
            entity_moid: s("entity_moid")?,
            started_at: from_micros(r.try_get::<i64, _>("started_us").map_err(from_sqlx)?)?,
        },
        resource_id: s("resource_id")?,
        summary: s("summary")?,
        alarm_name: s("alarm_name")?,
        severity: severity_of(&s("severity")?),
        current_severity: severity_of(&s("current_severity")?),
        ended_at: time(o("ended_us")?)?,
        acknowledged_at: time(o("acknowledged_us")?)?,
        acknowledged_by: r
            .try_get::<Option<String>, _>("acknowledged_by")
            .map_err(from_sqlx)?,
        last_event_key: o("last_event_key")?,
    })
}
