//! Filter query parameters of the REST list calls. vAPI spells a set-valued filter as a repeated
//! parameter (`?names=a&names=b`), which serde's query extractors cannot express, so the raw query
//! string is parsed here. Bad values answer 400 `INVALID_ARGUMENT`, as vCenter does.

use std::collections::HashSet;

use axum::http::StatusCode;
use axum::response::Response;

use super::error;

/// 400 `INVALID_ARGUMENT` naming the offending parameter.
pub fn invalid_argument(message: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
        "vapi.bindings.typeconverter.invalid.argument",
        message,
    )
}

/// The decoded query parameters of one request, in order.
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Decodes a raw query string (absent = no parameters).
    pub fn parse(raw: Option<&str>) -> Query {
        Query(
            url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A set filter; `None` when the parameter is absent or empty ("matches anything").
    pub fn set(&self, name: &str) -> Option<HashSet<String>> {
        let s: HashSet<String> = self.values(name).map(str::to_string).collect();
        (!s.is_empty()).then_some(s)
    }

    /// A set filter whose values must come from `allowed` (an enum of the swagger).
    ///
    /// # Errors
    /// 400 `INVALID_ARGUMENT` for a value outside `allowed`.
    pub fn enum_set(
        &self,
        name: &str,
        allowed: &[&str],
    ) -> Result<Option<HashSet<String>>, Response> {
        let set = self.set(name);
        if let Some(bad) = set
            .iter()
            .flatten()
            .find(|v| !allowed.contains(&v.as_str()))
        {
            return Err(invalid_argument(&format!(
                "Invalid value '{bad}' for {name}; expected one of {}.",
                allowed.join(", ")
            )));
        }
        Ok(set)
    }

    /// A single-valued enum filter (`type` of the folder list).
    ///
    /// # Errors
    /// 400 when repeated or outside `allowed`.
    pub fn enum_one(&self, name: &str, allowed: &[&str]) -> Result<Option<String>, Response> {
        let set = self.enum_set(name, allowed)?;
        match set {
            Some(s) if s.len() > 1 => {
                Err(invalid_argument(&format!("{name} takes a single value.")))
            }
            Some(s) => Ok(s.into_iter().next()),
            None => Ok(None),
        }
    }

    /// A boolean filter (`standalone`).
    ///
    /// # Errors
    /// 400 for anything but `true` or `false`.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, Response> {
        match self.enum_one(name, &["true", "false"])? {
            Some(v) => Ok(Some(v == "true")),
            None => Ok(None),
        }
    }
}

/// Whether `value` passes an optional set filter.
pub fn admits(filter: &Option<HashSet<String>>, value: Option<&str>) -> bool {
    match filter {
        None => true,
        Some(set) => value.is_some_and(|v| set.contains(v)),
    }
}
