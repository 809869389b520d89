//! Environment overrides: every scalar key of the config file can be set (or replaced) by a
//! `PULSE_VSPHERE_<TABLE>_<KEY>` variable, the way a container platform configures a service.
//! [`KEYS`] is the one list of those keys: docs/configuration.md's key table is checked against
//! it, and a value from the environment goes through the same deserialization and validation as
//! the file's, so a bad one stops the start with `config_invalid` naming the variable.
//!
//! Tables of arrays (`[[connection]]`, `[[auth.tokens]]`) have no overrides: an entry is a
//! whole, and a password or token never comes from an override but from its own `*_env` /
//! `*_file` source.

/// How a variable's text becomes a TOML value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    Integer,
    Boolean,
}

/// One overridable key: its table path (empty for the top level), its name, its kind.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    pub table: &'static [&'static str],
    pub name: &'static str,
    pub kind: Kind,
}

const fn key(table: &'static [&'static str], name: &'static str, kind: Kind) -> Key {
    Key { table, name, kind }
}

/// Every scalar key of the file.
pub const KEYS: &[Key] = &[
    key(&[], "listen", Kind::Text),
    key(&["store"], "data_dir", Kind::Text),
    key(&["store"], "postgres_url_env", Kind::Text),
    key(&["store"], "postgres_url_file", Kind::Text),
    key(&["store"], "secret_key_file", Kind::Text),
    key(&["ondemand"], "calls_per_second", Kind::Integer),
    key(&["ondemand"], "burst", Kind::Integer),
    key(&["ondemand"], "concurrent_calls", Kind::Integer),
    key(&["collector"], "tags_interval_seconds", Kind::Integer),
    key(&["telemetry"], "otlp_endpoint", Kind::Text),
    key(&["telemetry"], "service_name", Kind::Text),
    key(&["assistant"], "safelist", Kind::Boolean),
    key(&["auth", "jwt"], "issuer", Kind::Text),
    key(&["auth", "jwt"], "audience", Kind::Text),
    key(&["auth", "jwt"], "roles_claim", Kind::Text),
    key(&["auth", "jwt"], "hs256_secret_env", Kind::Text),
    key(&["auth", "jwt"], "hs256_secret_file", Kind::Text),
    key(&["auth", "jwt"], "jwks_file", Kind::Text),
    key(&["auth", "jwt"], "leeway_seconds", Kind::Integer),
];

impl Key {
    /// `PULSE_VSPHERE_ONDEMAND_BURST` for `[ondemand] burst`.
    pub fn variable(&self) -> String {
        let mut parts = vec!["PULSE_VSPHERE".to_string()];
        parts.extend(self.table.iter().map(|t| t.to_ascii_uppercase()));
        parts.push(self.name.to_ascii_uppercase());
        parts.join("_")
    }

    /// `ondemand.burst`.
    pub fn dotted(&self) -> String {
        let mut parts: Vec<&str> = self.table.to_vec();
        parts.push(self.name);
        parts.join(".")
    }
}

/// Lays every override `lookup` finds over `table`; returns the variables applied.
///
/// # Errors
/// A message naming the variable whose text is not of its key's kind.
pub fn apply(
    table: &mut toml::Table,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, String> {
    let mut applied = Vec::new();
    for k in KEYS {
        let var = k.variable();
        let Some(text) = lookup(&var) else { continue };
        let value = match k.kind {
            Kind::Text => toml::Value::String(text),
            Kind::Integer => text
                .trim()
                .parse::<i64>()
                .map(toml::Value::Integer)
                .map_err(|_| format!("{var}: `{text}` is not an integer ({})", k.dotted()))?,
            Kind::Boolean => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => toml::Value::Boolean(true),
                "false" | "0" | "no" => toml::Value::Boolean(false),
                _ => {
                    return Err(format!(
                        "{var}: `{text}` is not true or false ({})",
                        k.dotted()
                    ))
                }
            },
        };
        let mut at = &mut *table;
        for t in k.table {
            let entry = at
                .entry(t.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            at = entry
                .as_table_mut()
                .ok_or_else(|| format!("{var}: `{}` in the file is not a table", k.dotted()))?;
        }
        at.insert(k.name.to_string(), value);
        applied.push(var);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn overrides_land_in_their_tables_and_replace_the_file() {
        let mut t: toml::Table = "[ondemand]\nburst = 10\n".parse().unwrap();
        let applied = apply(
            &mut t,
            &env(&[
                ("PULSE_VSPHERE_ONDEMAND_BURST", "300"),
                ("PULSE_VSPHERE_LISTEN", "0.0.0.0:9000"),
                ("PULSE_VSPHERE_ASSISTANT_SAFELIST", "yes"),
                ("PULSE_VSPHERE_AUTH_JWT_ISSUER", "gw"),
            ]),
        )
        .unwrap();
        assert_eq!(applied.len(), 4);
        assert_eq!(t["ondemand"]["burst"].as_integer(), Some(300));
        assert_eq!(t["listen"].as_str(), Some("0.0.0.0:9000"));
        assert_eq!(t["assistant"]["safelist"].as_bool(), Some(true));
        assert_eq!(t["auth"]["jwt"]["issuer"].as_str(), Some("gw"));
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let mut t = toml::Table::new();
        let e = apply(&mut t, &env(&[("PULSE_VSPHERE_ONDEMAND_BURST", "lots")])).unwrap_err();
        assert!(e.starts_with("PULSE_VSPHERE_ONDEMAND_BURST"), "{e}");
        let e = apply(
            &mut t,
            &env(&[("PULSE_VSPHERE_ASSISTANT_SAFELIST", "maybe")]),
        )
        .unwrap_err();
        assert!(e.contains("true or false"), "{e}");
    }

    #[test]
    fn every_key_is_in_the_documented_table() {
        let doc = include_str!("../../docs/configuration.md");
        for k in KEYS {
            let row = format!("| `{}` | `{}` |", k.dotted(), k.variable());
            assert!(
                doc.contains(&row),
                "docs/configuration.md lacks the row {row}"
            );
        }
    }
}
