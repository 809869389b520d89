//! GraphQL subscriptions over `graphql-transport-ws` against the real server and a collector
//! of the simulator: an alarm raise arrives within 2 s with the simulator's names; a VM powered
//! off arrives as a status change; a subscriber that falls behind the live feed's bound is told
//! why and ended; only subscriptions run over the socket.

mod common;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use pulse_vsphere::auth::{AuthConfig, Authenticator, JwtConfig, Role};
use pulse_vsphere::collector::{self, CollectorConfig};
use pulse_vsphere::connections::Registry;
use pulse_vsphere::server::ServerLimits;
use pulse_vsphere::simulator::{Profile, SimConfig, Simulator};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A registry with one collector of `sim` feeding the live feed, served over HTTP.
/// The small simulator with no changes of its own (the test makes the ones it waits for).
async fn quiet_simulator() -> Simulator {
    let mut cfg = SimConfig::small();
    cfg.change_rate = 0.0;
    Simulator::start(cfg).await.unwrap()
}

async fn serving(
    sim: &Simulator,
    max_updates: u32,
) -> (
    std::sync::Arc<pulse_vsphere::inventory::ConnectionSlot>,
    String,
    collector::CollectorHandle,
) {
    let (slot, base, h) = serving_with(sim, max_updates, ServerLimits::default()).await;
    (slot, ws_url(&base), h)
}

/// [`serving`] with `limits`; answers the server's `http://` base.
async fn serving_with(
    sim: &Simulator,
    max_updates: u32,
    limits: ServerLimits,
) -> (
    std::sync::Arc<pulse_vsphere::inventory::ConnectionSlot>,
    String,
    collector::CollectorHandle,
) {
    let registry = Registry::new(CollectorConfig::default());
    let slot = registry.attach("vc1", "lab vCenter");
    let client =
        pulse_vsphere::vcenter::VcClient::new(common::client_config(sim, "admin", "admin"))
            .unwrap();
    let config = CollectorConfig {
        wait: Duration::from_secs(1),
        publish_every: Duration::from_millis(50),
        max_updates,
        live: Some(registry.live()),
        ..CollectorConfig::default()
    };
    let h = collector::spawn(client, slot.clone(), config);
    let vms = sim.control().inventory_counts().by_type["VirtualMachine"];
    assert!(common::eventually(60, || slot.snapshot().is_some_and(|s| s.vms.len() == vms)).await);
    let (url, _stop, _task) = common::serve_http_with(registry.clone(), limits).await;
    std::mem::forget(_stop);
    (slot, url, h)
}

/// A server with `auth` and no connection; answers its WebSocket URL.
async fn serve_with(auth: Authenticator) -> String {
    use pulse_vsphere::server::{app, run, Access, AppState, Counters};
    let registry = Registry::new(CollectorConfig::default());
    let state = AppState {
        schemas: pulse_vsphere::graphql::SchemaDeps::new(registry.clone()).schemas(),
        registry,
        counters: std::sync::Arc::new(Counters::default()),
        access: std::sync::Arc::new(Access::new(auth)),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/graphql/ws", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::mem::forget(stop);
    tokio::spawn(run(listener, app(state), async {
        let _ = stopped.await;
    }));
    url
}

fn ws_url(base: &str) -> String {
    base.replace("http://", "ws://") + "/graphql/ws"
}

/// An upgrade request offering `graphql-transport-ws`.
fn request(url: &str) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    req
}

/// The value of an unlabelled series in the server's `/metrics`.
async fn metric(base: &str, name: &str) -> f64 {
    let text = common::text(&reqwest::Client::new(), &format!("{base}/metrics")).await;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

/// Polls the series `name` until it is `want` or `secs` pass; answers the last value.
async fn metric_becomes(base: &str, name: &str, want: f64, secs: u64) -> f64 {
    let until = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let v = metric(base, name).await;
        if v == want || tokio::time::Instant::now() > until {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn connect(url: &str) -> Socket {
    let (mut ws, resp) = tokio_tungstenite::connect_async(request(url))
        .await
        .expect("upgrade");
    assert_eq!(
        resp.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    init(&mut ws, json!({})).await;
    ws
}

/// `connection_init` with `payload`, acknowledged.
async fn init<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>, payload: Value) {
    let m = json!({"type": "connection_init", "payload": payload});
    ws.send(Message::text(m.to_string())).await.unwrap();
    assert_eq!(next(ws, 5).await["type"], "connection_ack");
}

async fn subscribe<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    id: &str,
    query: &str,
) {
    let m = json!({"id": id, "type": "subscribe", "payload": {"query": query}});
    ws.send(Message::text(m.to_string())).await.unwrap();
}

/// The next protocol message (pings answered), within `secs`.
async fn next<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>, secs: u64) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let m = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("a message in time")
            .expect("open")
            .unwrap();
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "ping" {
                ws.send(Message::text(json!({"type": "pong"}).to_string()))
                    .await
                    .unwrap();
                continue;
            }
            return v;
        }
    }
}

/// Reads until the server's close frame (or the end of the stream), within `secs`: the text
/// messages before it, and the frame.
async fn until_closed<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    secs: u64,
) -> (Vec<Value>, usize, Option<CloseFrame>) {
    let read = async {
        let (mut messages, mut bytes) = (Vec::new(), 0);
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    bytes += t.len();
                    messages.push(serde_json::from_str::<Value>(&t).expect("a whole message"));
                }
                Some(Ok(Message::Close(frame))) => return (messages, bytes, frame),
                Some(Ok(_)) => {}
                None | Some(Err(_)) => return (messages, bytes, None),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(secs), read)
        .await
        .expect("closed in time")
}

#[tokio::test]
async fn an_alarm_raise_and_a_power_off_reach_subscribers() {
    let sim = quiet_simulator().await;
    let (slot, url, h) = serving(&sim, 1000).await;
    let mut ws = connect(&url).await;
    subscribe(&mut ws, "a", "subscription { vsphereIncidentChanges(filter: {severity: [CRITICAL]}) { change severity alarmName resourceId objectName connectionId summary } }").await;
    let mut other = connect(&url).await;
    subscribe(&mut other, "s", "subscription { vsphereStatusChanges(filter: {to: [OFFLINE]}) { resourceId kind name from to connectionId } }").await;
    // Let both subscriptions reach the feed before the changes.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // An alarm with no state behind it, on a host where it is not raised.
    let snap = slot.snapshot().unwrap();
    let alarm = sim.control().state().inv().ids_of("Alarm")[8].clone();
    let host = snap
        .agents
        .iter()
        .find(|a| a.alerts.iter().all(|x| x.alarm_moid != alarm))
        .unwrap()
        .clone();
    let raised = tokio::time::Instant::now();
    assert!(sim.control().set_alarm(&host.moid, &alarm, "red"));
    let m = next(&mut ws, 2).await;
    let elapsed = raised.elapsed();
    assert_eq!(m["type"], "next", "{m}");
    let c = &m["payload"]["data"]["vsphereIncidentChanges"];
    assert_eq!(c["change"], "OPENED", "{m}");
    assert_eq!(c["severity"], "CRITICAL");
    assert_eq!(c["resourceId"], host.id.to_string());
    assert_eq!(c["objectName"], host.name.as_str());
    assert_eq!(c["connectionId"], "vc1");
    let name = sim
        .control()
        .state()
        .inv()
        .get(&alarm)
        .and_then(|a| a.get_path("info.name").cloned())
        .unwrap();
    assert_eq!(c["alarmName"], name);
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");

    // A running VM powered off: OFFLINE, from what it was.
    let vm = snap
        .vms
        .iter()
        .find(|v| v.status == pulse_vsphere::model::status::ResourceStatus::Online)
        .unwrap()
        .clone();
    assert!(sim.control().set_vm_power(&vm.moid, "poweredOff"));
    let m = loop {
        let m = next(&mut other, 5).await;
        if m["payload"]["data"]["vsphereStatusChanges"]["resourceId"] == vm.id.to_string() {
            break m;
        }
    };
    let c = &m["payload"]["data"]["vsphereStatusChanges"];
    assert_eq!(
        (
            c["kind"].as_str(),
            c["name"].as_str(),
            c["from"].as_str(),
            c["to"].as_str()
        ),
        (
            Some("vm"),
            Some(vm.name.as_str()),
            Some("ONLINE"),
            Some("OFFLINE")
        ),
        "{c}"
    );

    // A page of another origin cannot open one.
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    req.headers_mut()
        .insert("Origin", "https://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!(
            "cross-origin upgrade not refused: {:?}",
            other.map(|(_, r)| r.status())
        ),
    }

    // Only subscriptions run over the socket.
    subscribe(&mut ws, "q", "{ vspherePlatform { id } }").await;
    let m = loop {
        let m = next(&mut ws, 5).await;
        if m["id"] == "q" {
            break m;
        }
    };
    assert_eq!(
        m["payload"]["errors"][0]["extensions"]["code"], "OPERATION_NOT_ALLOWED",
        "{m}"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_is_told_why_and_ended() {
    let mut cfg = SimConfig::with_profile(Profile::Medium);
    cfg.change_rate = 0.0;
    let sim = Simulator::start(cfg).await.unwrap();
    // One change-feed batch takes the whole burst, so one publish carries it.
    let (_slot, url, h) = serving(&sim, 10_000).await;
    let mut ws = connect(&url).await;
    subscribe(
        &mut ws,
        "s",
        "subscription { vsphereStatusChanges { resourceId to } }",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Thousands of power changes in one burst: more status changes than the feed keeps for a
    // subscriber, while this one reads nothing.
    let vms = sim
        .control()
        .state()
        .inv()
        .ids_of("VirtualMachine")
        .to_vec();
    for vm in &vms {
        sim.control().set_vm_power(vm, "poweredOff");
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    // Whatever was delivered before it fell behind, then the reason, then the end.
    let mut delivered = 0;
    let reason = loop {
        let m = next(&mut ws, 30).await;
        match m["type"].as_str() {
            Some("next") if m["payload"]["errors"].is_null() => delivered += 1,
            _ => break m,
        }
    };
    assert_eq!(
        reason["payload"]["errors"][0]["extensions"]["code"], "SUBSCRIPTION_TOO_SLOW",
        "{reason} after {delivered}"
    );
    assert_eq!(next(&mut ws, 5).await["type"], "complete");
    assert!(delivered < vms.len(), "{delivered}");
    h.shutdown().await;
}

/// A socket that never sends `connection_init` is closed instead of holding a subscriber's
/// place.
#[tokio::test]
async fn a_socket_that_never_initialises_is_closed() {
    let sim = quiet_simulator().await;
    let (_slot, url, h) = serving(&sim, 1000).await;
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade");
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "still open after 20 s without connection_init"
    );
    h.shutdown().await;
}

/// With credentials configured: an upgrade without one is 401 before any socket exists; a
/// socket whose `connection_init` carries an unknown token is closed, never acknowledged; the
/// assistant's token may subscribe.
#[tokio::test]
async fn subscribing_needs_a_valid_credential() {
    const ASSISTANT: &str = "assistant-token-for-subscriptions-0123";
    let auth = Authenticator::from_config(&AuthConfig {
        tokens: vec![common::hashed_token(
            "assistant",
            Role::Assistant,
            ASSISTANT,
        )],
        jwt: None,
    })
    .unwrap();
    let url = serve_with(auth).await;
    let request = || request(&url);

    // A wrong bearer token on the upgrade: 401, no socket.
    let mut wrong = request();
    wrong
        .headers_mut()
        .insert("Authorization", "Bearer not-a-known-token".parse().unwrap());
    match tokio_tungstenite::connect_async(wrong).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!(
            "a wrong bearer token was upgraded: {:?}",
            other.map(|(_, r)| r.status())
        ),
    }

    // The credential in the init payload: an unknown one is refused and the socket closes.
    let (mut ws, _) = tokio_tungstenite::connect_async(request())
        .await
        .expect("upgrade");
    let init = json!({"type": "connection_init", "payload": {"Authorization": "Bearer not-a-known-token"}});
    ws.send(Message::text(init.to_string())).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                Some(Ok(Message::Text(t))) if t.contains("connection_ack") => return false,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("an answer to init");
    assert!(
        closed,
        "an unknown token in connection_init was acknowledged"
    );

    // The assistant's token in the payload: acknowledged, and it may subscribe.
    let (mut ws, _) = tokio_tungstenite::connect_async(request())
        .await
        .expect("upgrade");
    let init = json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {ASSISTANT}")}});
    ws.send(Message::text(init.to_string())).await.unwrap();
    assert_eq!(next(&mut ws, 5).await["type"], "connection_ack");
    subscribe(
        &mut ws,
        "a",
        "subscription { vsphereIncidentChanges { change } }",
    )
    .await;
    // No error for it: nothing arrives while no collector publishes.
    assert!(tokio::time::timeout(Duration::from_millis(500), ws.next())
        .await
        .is_err());
}

/// A client that subscribes and then never reads while the simulator keeps changing: once the
/// kernel's socket buffers are full and a message has waited the send timeout, the server
/// drops it and counts it; it held nothing for the client beyond what the sockets already
/// held (what the client finds when it reads again: whole messages, then the reason); a
/// subscriber that reads keeps its subscription.
#[tokio::test]
async fn a_subscriber_that_never_reads_is_dropped_with_the_reason() {
    let sim = quiet_simulator().await;
    let limits = ServerLimits {
        subscriber_send_timeout: Duration::from_secs(1),
        ..ServerLimits::default()
    };
    let (_slot, base, h) = serving_with(&sim, 1000, limits).await;
    let url = ws_url(&base);
    // Large messages (each resource id a thousand times) fill the buffers in a few rounds of
    // changes.
    let fields: String = (0..1000).map(|i| format!("r{i}: resourceId ")).collect();
    let query = format!("subscription {{ vsphereStatusChanges {{ to {fields} }} }}");

    // The reader that stops. Its receive buffer keeps the kernel's initial size, since
    // autotuning grows it only as the application reads.
    let mut stalled = connect(&url).await;
    subscribe(&mut stalled, "s", &query).await;
    let mut reader = connect(&url).await;
    subscribe(&mut reader, "s", &query).await;
    assert_eq!(
        metric_becomes(&base, "pulse_vsphere_graphql_subscribers", 2.0, 5).await,
        2.0
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Every VM's power toggled, round after round, while `stalled` reads nothing and `reader`
    // reads everything.
    let vms = sim
        .control()
        .state()
        .inv()
        .ids_of("VirtualMachine")
        .to_vec();
    let control = sim.control().clone();
    let churn = tokio::spawn(async move {
        for round in 0.. {
            let power = if round % 2 == 0 {
                "poweredOff"
            } else {
                "poweredOn"
            };
            for vm in &vms {
                control.set_vm_power(vm, power);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let read = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = read.clone();
    let reading = tokio::spawn(async move {
        while let Some(Ok(m)) = reader.next().await {
            if let Message::Text(t) = m {
                counted.fetch_add(t.len(), std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    let dropped = metric_becomes(
        &base,
        "pulse_vsphere_graphql_subscribers_dropped_total",
        1.0,
        60,
    )
    .await;
    assert_eq!(dropped, 1.0, "the stalled subscriber was not dropped");

    // Reading again: whole messages, then the reason. Everything the server had produced for
    // it fits in the sockets' buffers (at most 4 MiB of send buffer here, tcp_wmem) and one
    // message: nothing was queued for it in the service.
    let (messages, bytes, frame) = until_closed(&mut stalled, 10).await;
    let frame = frame.expect("a close frame");
    assert_eq!(u16::from(frame.code), 1008, "{frame:?}");
    assert!(
        frame.reason.starts_with("SUBSCRIPTION_TOO_SLOW"),
        "{frame:?}"
    );
    assert!(
        messages.iter().all(|m| m["type"] == "next"),
        "{:?}",
        messages.iter().find(|m| m["type"] != "next")
    );
    assert!(
        bytes < 16 << 20,
        "{bytes} bytes held for a client that stopped reading"
    );
    assert!(
        read.load(std::sync::atomic::Ordering::Relaxed) > bytes,
        "the feed produced no more than the stalled socket held"
    );

    // The reader is still served and the stalled one's place is free; when the reader leaves
    // too, no subscriber is left.
    assert_eq!(
        metric(&base, "pulse_vsphere_graphql_subscribers").await,
        1.0
    );
    let so_far = read.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        common::eventually(10, || read.load(std::sync::atomic::Ordering::Relaxed)
            > so_far)
        .await,
        "the reading subscriber got nothing after the other was dropped"
    );
    churn.abort();
    reading.abort();
    let _ = reading.await;
    assert_eq!(
        metric_becomes(&base, "pulse_vsphere_graphql_subscribers", 0.0, 10).await,
        0.0
    );
    assert_eq!(
        metric(&base, "pulse_vsphere_graphql_subscribers_dropped_total").await,
        1.0
    );
    eprintln!(
        "stalled subscriber: {} messages, {bytes} bytes held in its sockets when dropped; the \
         reader read {} bytes",
        messages.len(),
        read.load(std::sync::atomic::Ordering::Relaxed)
    );
    h.shutdown().await;
}

/// Past the subscriber cap an upgrade is refused with 503 and `Retry-After`, before any
/// socket exists; when a subscriber leaves, its place admits the next one. (The cap is 256 by
/// default; a small one here.)
#[tokio::test]
async fn the_subscriber_cap_refuses_then_admits_when_one_leaves() {
    let sim = quiet_simulator().await;
    let limits = ServerLimits {
        max_subscribers: 3,
        ..ServerLimits::default()
    };
    let (_slot, base, h) = serving_with(&sim, 1000, limits).await;
    let url = ws_url(&base);
    let mut admitted = Vec::new();
    for id in ["a", "b", "c"] {
        let mut ws = connect(&url).await;
        subscribe(
            &mut ws,
            id,
            "subscription { vsphereStatusChanges { resourceId } }",
        )
        .await;
        admitted.push(ws);
    }
    assert_eq!(
        metric(&base, "pulse_vsphere_graphql_subscribers").await,
        3.0
    );
    let refused = |r: Result<_, tokio_tungstenite::tungstenite::Error>| match r {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Some(resp),
        _ => None,
    };
    let resp = refused(tokio_tungstenite::connect_async(request(&url)).await)
        .expect("a fourth subscriber upgraded past the cap of 3");
    assert_eq!(resp.status(), 503);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!(retry > 0);
    assert_eq!(
        metric(&base, "pulse_vsphere_graphql_subscribers").await,
        3.0
    );

    // One leaves: its place comes back and admits the next.
    let mut leaving = admitted.pop().unwrap();
    leaving.close(None).await.unwrap();
    drop(leaving);
    assert_eq!(
        metric_becomes(&base, "pulse_vsphere_graphql_subscribers", 2.0, 10).await,
        2.0
    );
    let mut next_one = connect(&url).await;
    subscribe(
        &mut next_one,
        "d",
        "subscription { vsphereStatusChanges { resourceId } }",
    )
    .await;
    assert_eq!(
        metric(&base, "pulse_vsphere_graphql_subscribers").await,
        3.0
    );
    assert!(refused(tokio_tungstenite::connect_async(request(&url)).await).is_some());
    h.shutdown().await;
}

/// A subscription admitted by a JWT ends when the JWT expires, with a close frame that says
/// so, whether the token came with the upgrade or in `connection_init`; one admitted by a
/// configured token (which does not expire) stays.
#[tokio::test]
async fn a_subscription_ends_when_its_jwt_expires() {
    const SECRET: &str = "a-gateway-signing-secret-of-32-bytes-or-more";
    const READER: &str = "reader-token-for-subscriptions-0123456";
    let secret_file = std::env::temp_dir().join(format!("pv-ws-jwt-{}", uuid::Uuid::new_v4()));
    std::fs::write(&secret_file, SECRET).unwrap();
    let auth = Authenticator::from_config(&AuthConfig {
        tokens: vec![common::hashed_token("frontend", Role::Reader, READER)],
        jwt: Some(JwtConfig {
            issuer: "pulse-gateway".into(),
            audience: "pulse-vsphere".into(),
            roles_claim: "roles".into(),
            hs256_secret_env: None,
            hs256_secret_file: Some(secret_file.clone()),
            jwks_file: None,
            leeway_seconds: Some(0),
        }),
    })
    .unwrap();
    std::fs::remove_file(&secret_file).unwrap();
    let url = serve_with(auth).await;
    let now = chrono::Utc::now().timestamp();
    let jwt = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "alice@gateway", "iss": "pulse-gateway", "aud": "pulse-vsphere",
                "exp": now + 3, "iat": now, "roles": ["reader"]}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let query = "subscription { vsphereIncidentChanges { change } }";

    // The JWT on the upgrade request, as a router forwards it.
    let mut req = request(&url);
    req.headers_mut()
        .insert("Authorization", format!("Bearer {jwt}").parse().unwrap());
    let (mut by_header, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade");
    init(&mut by_header, json!({})).await;
    subscribe(&mut by_header, "a", query).await;
    // The JWT in connection_init, as a browser sends it.
    let (mut by_init, _) = tokio_tungstenite::connect_async(request(&url))
        .await
        .expect("upgrade");
    init(
        &mut by_init,
        json!({"Authorization": format!("Bearer {jwt}")}),
    )
    .await;
    subscribe(&mut by_init, "a", query).await;
    // A configured token.
    let (mut static_token, _) = tokio_tungstenite::connect_async(request(&url))
        .await
        .expect("upgrade");
    init(
        &mut static_token,
        json!({"Authorization": format!("Bearer {READER}")}),
    )
    .await;
    subscribe(&mut static_token, "a", query).await;

    for ws in [&mut by_header, &mut by_init] {
        let (messages, _, frame) = until_closed(ws, 15).await;
        assert!(messages.is_empty(), "{messages:?}");
        let frame = frame.expect("a close frame");
        assert_eq!(u16::from(frame.code), 4401, "{frame:?}");
        assert!(frame.reason.contains("expired"), "{frame:?}");
    }
    assert!(
        chrono::Utc::now().timestamp() >= now + 3,
        "closed before exp"
    );
    // The configured token's socket is still open and answers.
    static_token
        .send(Message::text(json!({"type": "ping"}).to_string()))
        .await
        .unwrap();
    assert_eq!(next(&mut static_token, 5).await["type"], "pong");
}
