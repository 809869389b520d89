//! The estimate on the real schema: the abusive documents of issue 14 are refused with their
//! codes, in microseconds; the queries the tests, the benchmark, GraphiQL and the gateway send
//! are accepted.

use std::time::{Duration, Instant};

use async_graphql::Variables;
use serde_json::json;

use super::*;
use crate::connections::Registry;
use std::sync::Arc;

fn model() -> Arc<CostModel> {
    crate::graphql::SchemaDeps::new(Registry::new(Default::default()))
        .schemas()
        .cost
}

fn check(m: &CostModel, q: &str, vars: serde_json::Value) -> Result<Estimate, Refusal> {
    let doc = async_graphql::parser::parse_query(q).expect("parses");
    m.check(&doc, &Variables::from_json(vars))
}

/// `fragment F24 on Query { ...F23 ...F23 }` down to F0: 2^25 spreads once expanded.
fn doubling_chain(levels: usize) -> String {
    let mut q =
        format!("query {{ ...F{levels} }}\nfragment F0 on Query {{ vspherePlatform {{ id }} }}\n");
    for i in 1..=levels {
        q.push_str(&format!(
            "fragment F{i} on Query {{ ...F{p} ...F{p} }}\n",
            p = i - 1
        ));
    }
    q
}

/// The selection of a host connection that goes `vms -> host` `repeats` times.
fn chain_body(repeats: usize) -> String {
    let mut inner = String::from("id");
    for _ in 0..repeats {
        inner = format!("vms {{ nodes {{ host {{ {inner} }} }} }}");
    }
    format!("nodes {{ {inner} }}")
}

/// `hosts -> vms -> host` repeated: the 15-level nesting of issue 14.
fn nesting_chain(repeats: usize) -> String {
    format!("vsphereHosts {{ {} }}", chain_body(repeats))
}

#[test]
fn costs_follow_page_sizes_and_multiply_when_nested() {
    let m = model();
    let one = |q: &str| check(&m, q, json!({})).expect("accepted").cost;
    // vsphereVms (1) + 5 nodes x (node + id).
    assert_eq!(one("{ vsphereVms(first: 5) { nodes { id } } }"), 11);
    // The default page is 50.
    assert_eq!(one("{ vsphereVms { nodes { id } } }"), 101);
    // Nested connections multiply: 1 + 2 x (1 + 1 + (1 + 3 x 2)).
    assert_eq!(
        one("{ vsphereHosts(first: 2) { nodes { id vms(first: 3) { nodes { id } } } } }"),
        19
    );
    // Variables and their defaults size lists like literals.
    let q = "query($n: Int = 4) { vsphereVms(first: $n) { edges { node { id } } } }";
    assert_eq!(check(&m, q, json!({})).expect("ok").cost, 1 + 4 * 3);
    assert_eq!(check(&m, q, json!({"n": 10})).expect("ok").cost, 1 + 10 * 3);
    // `first: 0` still counts one item; an out-of-range `first` counts the largest page (the
    // resolver answers BAD_USER_INPUT).
    assert_eq!(one("{ vsphereVms(first: 0) { nodes { id } } }"), 3);
    assert_eq!(
        one("{ vsphereVms(first: 2147483647) { nodes { id } } }"),
        1 + 500 * 2
    );
    // Unsliced lists count ASSUMED_LIST_SIZE; `_entities` counts its representations.
    assert_eq!(
        one("{ vsphereVms(first: 1) { nodes { tags { name } } } }"),
        1 + (1 + ASSUMED_LIST_SIZE * 2)
    );
    let e = r#"query($r: [_Any!]!) { _entities(representations: $r) { ... on Vm { id name } } }"#;
    let reps = json!({"r": [{"__typename": "Vm", "id": "a"}, {"__typename": "Vm", "id": "b"}, {"__typename": "Vm", "id": "c"}]});
    assert_eq!(check(&m, e, reps).expect("ok").cost, 3 * 3);
}

#[test]
fn the_abuses_of_issue_14_are_refused_with_their_codes() {
    let m = model();
    // 5,000 aliases of a page of 500 VMs.
    let bomb: String = (0..5000)
        .map(|i| format!("a{i}: vsphereVms(first: 500) {{ nodes {{ id }} }} "))
        .collect();
    let r = check(&m, &format!("{{ {bomb} }}"), json!({})).unwrap_err();
    assert_eq!(r.code(), "TOO_MANY_ALIASES", "{r}");
    // 15 levels of hosts -> vms -> host.
    let r = check(&m, &format!("{{ {} }}", nesting_chain(4)), json!({})).unwrap_err();
    assert_eq!(r.code(), "QUERY_TOO_COMPLEX", "{r}");
    // 20 aliases of that chain through a fragment.
    let aliases: String = (0..20)
        .map(|i| format!("a{i}: vsphereHosts {{ ...N }} "))
        .collect();
    let q = format!(
        "{{ {aliases} }} fragment N on VsphereAgentConnection {{ {} }}",
        chain_body(4)
    );
    let r = check(&m, &q, json!({})).unwrap_err();
    assert_eq!(r.code(), "QUERY_TOO_COMPLEX", "{r}");
    // The doubling fragment chain, measured without expanding it.
    let t = Instant::now();
    let r = check(&m, &doubling_chain(24), json!({})).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(r.code(), "TOO_MANY_FRAGMENTS", "{r}");
    // Deeper chains saturate instead of overflowing.
    assert_eq!(
        check(&m, &doubling_chain(200), json!({}))
            .unwrap_err()
            .code(),
        "TOO_MANY_FRAGMENTS"
    );
    // A cycle is refused before the library recurses into it.
    let r = check(
        &m,
        "{ ...A } fragment A on Query { vspherePlatform { id } ...B } fragment B on Query { ...A }",
        json!({}),
    )
    .unwrap_err();
    assert_eq!(r.code(), "GRAPHQL_VALIDATION_FAILED", "{r}");
    // Depth beyond 16.
    let mut deep = String::from("id");
    for _ in 0..6 {
        deep = format!("host {{ vms(first: 1) {{ nodes {{ {deep} }} }} }}");
    }
    let r = check(
        &m,
        &format!("{{ vsphereVms(first: 1) {{ nodes {{ {deep} }} }} }}"),
        json!({}),
    )
    .unwrap_err();
    assert_eq!(r.code(), "QUERY_TOO_DEEP", "{r}");
    // Introspection nesting as graphql-js' MaxIntrospectionDepthRule.
    let r = check(
        &m,
        "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }",
        json!({}),
    )
    .unwrap_err();
    assert_eq!(r.code(), "QUERY_TOO_DEEP", "{r}");
}

/// The query of benches/graphql_page.rs.
const BENCH: &str = r#"query($after: String) { vsphereVms(first: 100, after: $after) {
  totalCount pageInfo { endCursor hasNextPage }
  nodes { id name status lastSeen
    host { id name status }
    datastores { nodes { id name } }
    alerts { id name severity since }
    identity { instanceUuid ips macs hostnames }
    vsphere { powerState snapshotCount
      guest { hostname osName toolsRunning ipAddress filesystems { path capacityBytes freeBytes } }
      topology { datacenter { name } cluster { name } folderPath } } } } }"#;

/// graphql-js 16 `getIntrospectionQuery()`, as GraphiQL and the gateway's tooling send it.
const INTROSPECTION: &str = r#"query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }"#;

#[test]
fn what_clients_send_today_is_accepted() {
    let m = model();
    let accepted = [
        (BENCH, json!({})),
        (INTROSPECTION, json!({})),
        ("{ _service { sdl } }", json!({})),
        // GraphiQL's default query (src/server/graphiql.rs).
        ("{ vsphereVms(first: 10) { totalCount nodes { id name status vsphere { powerState topology { cluster { name } } } } } }", json!({})),
        // The gateway's cross-subgraph fetch (tests/federation/gateway.mjs).
        (r#"query($representations: [_Any!]!) { _entities(representations: $representations) {
            ... on Vm { id vsphere { powerState topology { cluster { name } } } }
            ... on Agent { id vsphere { connectionState } }
            ... on Storage { id vsphere { type capacityBytes } } } }"#,
         json!({"representations": (0..500).map(|i| json!({"__typename": "Vm", "id": i.to_string()})).collect::<Vec<_>>()})),
        // The largest page of tests/graphql_queries.rs.
        (r#"query($first: Int) { vsphereVms(first: $first) { totalCount
            pageInfo { hasNextPage hasPreviousPage endCursor }
            edges { cursor node { id name status platformType vsphere { powerState snapshotCount } } } } }"#,
         json!({"first": 500})),
    ];
    for (q, vars) in accepted {
        let e = check(&m, q, vars).unwrap_or_else(|r| panic!("{r}: {q}"));
        assert!(e.cost <= MAX_COST / 2, "{e:?}: {q}");
    }
    // The benchmark's page at 500 VMs is the largest single page a client can ask for.
    let e = check(&m, &BENCH.replace("first: 100", "first: 500"), json!({})).expect("ok");
    assert!(e.cost <= MAX_COST, "{e:?}");
}

#[test]
fn reads_of_older_events_are_counted_per_object_against_the_budget() {
    let m = model();
    let q = |first: u32, older: &str| {
        format!("{{ vsphereVms(first: {first}) {{ nodes {{ activity {{ events(first: 100{older}) {{ key }} }} }} }} }}")
    };
    let e = check(&m, &q(120, ", includeOlder: true"), json!({})).expect("fits");
    assert_eq!(e.vcenter_calls, 120);
    assert_eq!(check(&m, &q(500, ""), json!({})).unwrap().vcenter_calls, 0);
    assert_eq!(
        check(&m, &q(500, ", includeOlder: false"), json!({}))
            .unwrap()
            .vcenter_calls,
        0
    );
    let r = check(&m, &q(201, ", includeOlder: true"), json!({})).expect_err("over");
    assert_eq!(
        r,
        Refusal::TooManyVcenterCalls {
            calls: 201,
            max: 200
        }
    );
    assert_eq!(r.code(), "ONDEMAND_BUDGET_EXCEEDED");
    // Through a variable; each alias reads again.
    let v = "query($o: Boolean!) { vsphereVms(first: 120) { nodes { activity { a: events(includeOlder: $o) { key } b: events(includeOlder: $o) { key } } } } }";
    assert_eq!(
        check(&m, v, json!({"o": true})).unwrap_err(),
        Refusal::TooManyVcenterCalls {
            calls: 240,
            max: 200
        }
    );
    assert_eq!(check(&m, v, json!({"o": false})).unwrap().vcenter_calls, 0);
}

#[test]
fn int_literals_outside_32_bits_are_validation_errors() {
    let m = model();
    for (q, value, argument) in [
        (
            "{ vsphereVms(first: 99999999999) { totalCount } }",
            "99999999999",
            "first",
        ),
        (
            "{ vsphereVms(first: -2147483649) { totalCount } }",
            "-2147483649",
            "first",
        ),
        // Inside an input object, and in a fragment.
        (
            "{ ...F } fragment F on Query { vsphereVms(filter: { hasSnapshotsOlderThanDays: 4294967296 }) { totalCount } }",
            "4294967296",
            "filter",
        ),
    ] {
        let r = check(&m, q, json!({})).expect_err(q);
        assert_eq!(r.code(), "GRAPHQL_VALIDATION_FAILED", "{q}");
        assert!(r.is_validation());
        assert_eq!(
            r,
            Refusal::IntOutOfRange {
                value: value.into(),
                argument: argument.into(),
                field: "vsphereVms".into(),
            }
        );
    }
    // The bounds themselves, a variable (checked with the other variables) and `Float`s are
    // not this check's.
    for q in [
        "{ vsphereVms(first: 2147483647) { totalCount } }",
        "{ vsphereVms(first: -2147483648) { totalCount } }",
        "query($n: Int) { vsphereVms(first: $n) { totalCount } }",
    ] {
        assert!(
            check(&m, q, json!({"n": 99_999_999_999_i64})).is_ok(),
            "{q}"
        );
    }
}
