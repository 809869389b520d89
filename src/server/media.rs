//! Which requests `/graphql` executes and in which media type it answers (GraphQL over HTTP).
//!
//! CSRF, as Apollo Server's prevention: a browser sends `text/plain`,
//! `application/x-www-form-urlencoded` and `multipart/form-data` POSTs from any page without a
//! CORS preflight, so a page open on the operator's machine could run operations against the
//! loopback service. Only `application/json` bodies are executed, which a browser sends
//! cross-origin only after a preflight the server never approves; everything else (no
//! Content-Type included) is refused with 415 before authentication or parsing. GET never
//! executes an operation (it serves GraphiQL), so no operation, and no mutation, runs from a
//! link, an image or a form.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;

use super::errors::{code, error};

/// The media type of a GraphQL response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// `application/json`: what older clients and the gateway accept.
    Json,
    /// `application/graphql-response+json`, when the client lists it first.
    GraphqlResponse,
}

impl Media {
    /// The `Content-Type` value, UTF-8 as GraphQL over HTTP requires.
    pub fn content_type(self) -> &'static str {
        match self {
            Media::Json => "application/json; charset=utf-8",
            Media::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
        }
    }

    /// The status of a GraphQL request error (parse, validation, variable coercion) of a
    /// well-formed request: `application/json` clients may only trust a 200 body to come from
    /// the GraphQL server, so they get 200; the GraphQL media type says so itself and gets 400.
    pub fn request_error_status(self) -> StatusCode {
        match self {
            Media::Json => StatusCode::OK,
            Media::GraphqlResponse => StatusCode::BAD_REQUEST,
        }
    }
}

/// Checks a POST's `Content-Type` and picks the response media type from `Accept`.
///
/// # Errors
/// 415 `UNSUPPORTED_MEDIA_TYPE` unless the body is `application/json` (UTF-8); 406
/// `NOT_ACCEPTABLE` when `Accept` lists neither JSON type nor a wildcard.
pub fn negotiate(headers: &HeaderMap) -> Result<Media, Response> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !is_json(content_type) {
        let shown = if content_type.is_empty() {
            "no Content-Type".to_string()
        } else {
            format!(
                "Content-Type `{}`",
                content_type.chars().take(100).collect::<String>()
            )
        };
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code::UNSUPPORTED_MEDIA_TYPE,
            format!("{shown} is not accepted: send the operation as `Content-Type: application/json` (other types are refused so a web page cannot send operations without a CORS preflight)"),
        ));
    }
    accept(headers)
}

/// `application/json`, with no parameter or `charset=utf-8`.
fn is_json(value: &str) -> bool {
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        && parts.all(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            !k.trim().eq_ignore_ascii_case("charset")
                || v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        })
}

/// The response media type for `Accept`: the listed type with the highest quality, the
/// GraphQL one first on a tie; `application/json` when `Accept` is absent.
fn accept(headers: &HeaderMap) -> Result<Media, Response> {
    let Some(value) = headers.get(header::ACCEPT) else {
        return Ok(Media::Json);
    };
    let value = value.to_str().unwrap_or("");
    let mut best: Option<(f32, u8, Media)> = None;
    for item in value.split(',') {
        let mut parts = item.split(';');
        let range = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .and_then(|(_, v)| v.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let (rank, media) = match range.as_str() {
            "application/graphql-response+json" => (2, Media::GraphqlResponse),
            "application/json" => (1, Media::Json),
            "application/*" | "*/*" => (0, Media::Json),
            _ => continue,
        };
        if q <= 0.0 {
            continue;
        }
        if best.is_none_or(|(bq, br, _)| q > bq || (q == bq && rank > br)) {
            best = Some((q, rank, media));
        }
    }
    best.map(|(_, _, m)| m).ok_or_else(|| {
        error(
            StatusCode::NOT_ACCEPTABLE,
            code::NOT_ACCEPTABLE,
            "`Accept` must allow application/graphql-response+json or application/json",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(ct: Option<&'static str>, accept: Option<&'static str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(c) = ct {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(c));
        }
        if let Some(a) = accept {
            h.insert(header::ACCEPT, HeaderValue::from_static(a));
        }
        h
    }

    #[test]
    fn only_json_bodies_are_executed() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON;charset=\"UTF-8\"",
        ] {
            assert_eq!(
                negotiate(&headers(Some(ok), None)).ok(),
                Some(Media::Json),
                "{ok}"
            );
        }
        for refused in [
            None,
            Some("text/plain"),
            Some("text/plain; charset=utf-8"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("application/json; charset=latin1"),
            Some("application/graphql"),
        ] {
            let r = negotiate(&headers(refused, None)).expect_err("refused");
            assert_eq!(
                r.status(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{refused:?}"
            );
        }
    }

    #[test]
    fn accept_picks_the_response_media_type() {
        let json = Some("application/json");
        let pick = |a| negotiate(&headers(json, Some(a))).ok();
        assert_eq!(
            pick("application/graphql-response+json"),
            Some(Media::GraphqlResponse)
        );
        assert_eq!(
            pick("application/graphql-response+json, application/json;q=0.9"),
            Some(Media::GraphqlResponse)
        );
        assert_eq!(
            pick("application/json, application/graphql-response+json;q=0.5"),
            Some(Media::Json)
        );
        assert_eq!(pick("*/*"), Some(Media::Json));
        assert_eq!(pick("application/json, text/plain"), Some(Media::Json));
        let r = negotiate(&headers(json, Some("text/html"))).expect_err("406");
        assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE);
    }
}
