//! GraphQL subscriptions over `graphql-transport-ws` against the real server and a collector
//! of the simulator: an alarm raise arrives within 2 s with the simulator's names; a VM powered
//! off arrives as a status change; a subscriber that falls behind the live feed's bound is told
//! why and ended; only subscriptions run over the socket.

mod common;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use pulse_vsphere::collector::{self, CollectorConfig};
use pulse_vsphere::connections::Registry;
use pulse_vsphere::simulator::{Profile, SimConfig, Simulator};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A registry with one collector of `sim` feeding the live feed, served over HTTP.
async fn serving(
    sim: &Simulator,
    max_updates: u32,
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
    let (url, _stop, _task) = common::serve_http(registry.clone()).await;
    std::mem::forget(_stop);
    (slot, url.replace("http://", "ws://") + "/graphql/ws", h)
}

async fn connect(url: &str) -> Socket {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, resp) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade");
    assert_eq!(
        resp.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    ws.send(Message::text(
        json!({"type": "connection_init", "payload": {}}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(next(&mut ws, 5).await["type"], "connection_ack");
    ws
}

async fn subscribe(ws: &mut Socket, id: &str, query: &str) {
    let m = json!({"id": id, "type": "subscribe", "payload": {"query": query}});
    ws.send(Message::text(m.to_string())).await.unwrap();
}

/// The next protocol message (pings answered), within `secs`.
async fn next(ws: &mut Socket, secs: u64) -> Value {
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

#[tokio::test]
async fn an_alarm_raise_and_a_power_off_reach_subscribers() {
    let mut cfg = SimConfig::small();
    cfg.change_rate = 0.0;
    let sim = Simulator::start(cfg).await.unwrap();
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
    let mut cfg = SimConfig::small();
    cfg.change_rate = 0.0;
    let sim = Simulator::start(cfg).await.unwrap();
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
    use pulse_vsphere::auth::{AuthConfig, Authenticator, Role, TokenConfig};
    use pulse_vsphere::server::{app, run, Access, AppState, Counters};
    use sha2::{Digest, Sha256};
    const ASSISTANT: &str = "assistant-token-for-subscriptions-0123";
    let registry = Registry::new(CollectorConfig::default());
    let auth = Authenticator::from_config(&AuthConfig {
        tokens: vec![TokenConfig {
            name: "assistant".into(),
            role: Role::Assistant,
            token_env: None,
            token_file: None,
            token_sha256: Some(hex::encode(Sha256::digest(ASSISTANT.as_bytes()))),
        }],
        jwt: None,
    })
    .unwrap();
    let state = AppState {
        schemas: pulse_vsphere::graphql::SchemaDeps::new(registry.clone()).schemas(),
        registry,
        counters: std::sync::Arc::new(Counters::default()),
        access: std::sync::Arc::new(Access::new(auth)),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/graphql/ws", listener.local_addr().unwrap());
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(run(listener, app(state), async {
        let _ = stopped.await;
    }));
    let request = || {
        let mut req = url.as_str().into_client_request().unwrap();
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        req
    };

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
