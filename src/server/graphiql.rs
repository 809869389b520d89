//! GraphiQL served from assets compiled into the binary, so it works with no internet access.

use axum::extract::Path;
use axum::http::{header, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};

const JS: &[u8] = include_bytes!("../../assets/graphiql/graphiql.min.js.gz");
const CSS: &[u8] = include_bytes!("../../assets/graphiql/graphiql.min.css.gz");
const REACT: &[u8] = include_bytes!("../../assets/graphiql/react.production.min.js.gz");
const REACT_DOM: &[u8] = include_bytes!("../../assets/graphiql/react-dom.production.min.js.gz");

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>pulse-vsphere GraphiQL</title>
<link rel="stylesheet" href="/graphiql/assets/graphiql.min.css">
<style>body { margin: 0; height: 100vh; } #graphiql { height: 100vh; }</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script src="/graphiql/assets/react.production.min.js"></script>
<script src="/graphiql/assets/react-dom.production.min.js"></script>
<script src="/graphiql/assets/graphiql.min.js"></script>
<script>
  const fetcher = GraphiQL.createFetcher({ url: '/graphql' });
  const root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(React.createElement(GraphiQL, {
    fetcher,
    defaultQuery: '{\n  vsphereVms(first: 10) {\n    totalCount\n    nodes { id name status vsphere { powerState topology { cluster { name } } } }\n  }\n}\n',
  }));
</script>
</body>
</html>
"#;

/// `GET /graphql`: the GraphiQL page. GET never executes an operation (the page itself posts
/// JSON): one sent as a `query` parameter, as GraphQL over HTTP's optional GET would, is
/// answered 405 so no link, image or form can run one, mutation or not (CSRF).
pub async fn page(uri: Uri) -> Response {
    let has_operation = uri.query().is_some_and(|q| {
        q.split('&')
            .any(|p| p == "query" || p.starts_with("query="))
    });
    if has_operation {
        let mut resp = super::errors::error(
            StatusCode::METHOD_NOT_ALLOWED,
            super::errors::code::METHOD_NOT_ALLOWED,
            "operations are executed over POST with `Content-Type: application/json` only; GET /graphql serves GraphiQL",
        );
        resp.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, POST"));
        return resp;
    }
    Html(PAGE).into_response()
}

/// `GET /graphiql/assets/{file}`: a bundled asset, gzip-encoded.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "graphiql.min.js" => (JS, "application/javascript"),
        "graphiql.min.css" => (CSS, "text/css"),
        "react.production.min.js" => (REACT, "application/javascript"),
        "react-dom.production.min.js" => (REACT_DOM, "application/javascript"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CONTENT_ENCODING, "gzip"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}
