//! Every endpoint and every bad input, through the real router with `oneshot`.

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::settings;
use dice_workload::app;
use dice_workload::state::{AppState, Settings};
use http_body_util::BodyExt;
use serde_json::Value;
use std::time::Duration;
use tower::ServiceExt;

struct Reply {
    status: StatusCode,
    content_type: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }

    /// Every error answer has the same shape.
    fn assert_json_error(&self, status: StatusCode, code: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        assert!(
            self.content_type.starts_with("application/json"),
            "{}",
            self.content_type
        );
        let body = self.json();
        assert_eq!(body["code"], code);
        assert!(
            body["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        body
    }
}

async fn send(state: &AppState, request: Request<Body>) -> Reply {
    let response = app(state.clone())
        .oneshot(request)
        .await
        .expect("router is infallible");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status,
        content_type,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn get(state: &AppState, uri: &str) -> Reply {
    send(
        state,
        Request::get(uri).body(Body::empty()).expect("request"),
    )
    .await
}

#[tokio::test]
async fn fair_roll_returns_a_face_and_the_die_name() {
    let state = AppState::new(settings(), None);
    for _ in 0..50 {
        let reply = get(&state, "/roll?die=fair").await;
        assert_eq!(reply.status, StatusCode::OK);
        let body = reply.json();
        assert_eq!(body["die"], "fair");
        assert!((1..=6).contains(&body["roll"].as_u64().expect("roll is a number")));
    }
}

#[tokio::test]
async fn risky_roll_returns_two_to_seven_or_a_json_500() {
    let state = AppState::new(
        Settings {
            risky_error_rate: 0.5,
            ..settings()
        },
        None,
    );
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..200 {
        let reply = get(&state, "/roll?die=risky").await;
        if reply.status == StatusCode::OK {
            ok += 1;
            assert!((2..=7).contains(&reply.json()["roll"].as_u64().expect("roll")));
        } else {
            failed += 1;
            reply.assert_json_error(StatusCode::INTERNAL_SERVER_ERROR, "roll_failed");
        }
    }
    assert!(ok > 50 && failed > 50, "ok {ok}, failed {failed}");
}

#[tokio::test]
async fn missing_or_unknown_die_is_a_400_naming_the_valid_values() {
    let state = AppState::new(settings(), None);
    for uri in [
        "/roll",
        "/roll?die=",
        "/roll?die=loaded",
        "/roll?die=FAIR",
        "/roll?die=%FF%FE",
        "/roll?side=fair",
        "/roll?die=fair%00",
    ] {
        let body = get(&state, uri)
            .await
            .assert_json_error(StatusCode::BAD_REQUEST, "invalid_die");
        assert_eq!(
            body["valid_values"],
            serde_json::json!(["fair", "risky"]),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn malformed_query_strings_are_a_400_not_a_panic() {
    let state = AppState::new(settings(), None);
    for uri in ["/roll?die=fair&die=risky", "/roll?die=%"] {
        let reply = get(&state, uri).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{uri}: {}",
            reply.body
        );
        assert!(reply.json()["code"].is_string(), "{uri}");
    }
}

#[tokio::test]
async fn legacy_rolldice_keeps_the_flask_contract() {
    let state = AppState::new(settings(), None);
    let body = get(&state, "/rolldice").await.json();
    let object = body.as_object().expect("object");
    assert_eq!(object.len(), 1, "{body}");
    assert!((1..=6).contains(&body["roll"].as_u64().expect("roll")));
}

#[tokio::test]
async fn health_liveness_and_readiness_report_status() {
    let state = AppState::new(settings(), None);
    assert_eq!(
        get(&state, "/health").await.json(),
        serde_json::json!({"status": "healthy", "service": "dice-server"})
    );
    assert_eq!(get(&state, "/livez").await.status, StatusCode::OK);
    assert_eq!(get(&state, "/readyz").await.json()["status"], "ready");
    state.health.begin_shutdown();
    get(&state, "/readyz")
        .await
        .assert_json_error(StatusCode::SERVICE_UNAVAILABLE, "shutting_down");
    assert_eq!(
        get(&state, "/livez").await.status,
        StatusCode::OK,
        "liveness is unaffected"
    );
}

#[tokio::test]
async fn index_lists_every_endpoint_and_each_one_is_served() {
    let state = AppState::new(settings(), None);
    let body = get(&state, "/").await.json();
    assert_eq!(body["name"], "dice-server");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    let paths: Vec<&str> = body["endpoints"]
        .as_array()
        .expect("endpoint list")
        .iter()
        .filter_map(|e| e["path"].as_str())
        .collect();
    assert!(
        paths.contains(&"/roll") && paths.contains(&"/metrics"),
        "{paths:?}"
    );
    for path in paths {
        let status = get(&state, &format!("{path}?die=fair")).await.status;
        assert_ne!(
            status,
            StatusCode::NOT_FOUND,
            "{path} is listed but not routed"
        );
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_get_json_errors() {
    let state = AppState::new(settings(), None);
    get(&state, "/nope")
        .await
        .assert_json_error(StatusCode::NOT_FOUND, "not_found");
    get(&state, "/roll/extra")
        .await
        .assert_json_error(StatusCode::NOT_FOUND, "not_found");
    let post = Request::post("/roll?die=fair")
        .body(Body::empty())
        .expect("request");
    send(&state, post)
        .await
        .assert_json_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let delete = Request::delete("/metrics")
        .body(Body::empty())
        .expect("request");
    send(&state, delete)
        .await
        .assert_json_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let state = AppState::new(settings(), None);
    let request = Request::get("/roll?die=fair")
        .header(header::CONTENT_LENGTH, "4096")
        .body(Body::from(vec![b'x'; 4096]))
        .expect("request");
    send(&state, request)
        .await
        .assert_json_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}

#[tokio::test]
async fn oversized_uris_and_headers_are_refused_with_json() {
    let state = AppState::new(settings(), None);
    let long_uri = format!("/roll?die=fair&pad={}", "x".repeat(4096));
    get(&state, &long_uri)
        .await
        .assert_json_error(StatusCode::URI_TOO_LONG, "uri_too_long");
    let request = Request::get("/roll?die=fair")
        .header("x-padding", "y".repeat(4096))
        .body(Body::empty())
        .expect("request");
    send(&state, request).await.assert_json_error(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "headers_too_large",
    );
    let many = (0..50).fold(Request::get("/roll?die=fair"), |r, i| {
        r.header(format!("x-h{i}"), "z".repeat(60))
    });
    send(&state, many.body(Body::empty()).expect("request"))
        .await
        .assert_json_error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
        );
}

#[tokio::test]
async fn slow_requests_time_out_with_a_json_503() {
    let slow = Settings {
        max_delay: Duration::from_secs(10),
        request_timeout: Duration::from_millis(1),
        ..settings()
    };
    let state = AppState::new(slow, None);
    // With a 10 s maximum delay, a 1 ms timeout fires unless the draw is below 1 ms (p = 1e-4).
    let timed_out = any_roll_times_out(&state, 5).await;
    assert!(timed_out, "none of five slow rolls timed out");
}

async fn any_roll_times_out(state: &AppState, attempts: usize) -> bool {
    for _ in 0..attempts {
        let reply = get(state, "/roll?die=fair").await;
        if reply.status == StatusCode::SERVICE_UNAVAILABLE {
            reply.assert_json_error(StatusCode::SERVICE_UNAVAILABLE, "timeout");
            return true;
        }
    }
    false
}

#[tokio::test]
async fn metrics_speak_text_openmetrics_and_json_by_accept_header() {
    let state = AppState::new(settings(), None);
    get(&state, "/roll?die=fair").await;

    let text = get(&state, "/metrics").await;
    assert!(
        text.content_type.starts_with("text/plain; version=0.0.4"),
        "{}",
        text.content_type
    );
    assert!(text.body.contains("# TYPE http_requests_total counter"));
    assert!(!text.body.contains("# EOF"));

    let request = Request::get("/metrics")
        .header(
            header::ACCEPT,
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        )
        .body(Body::empty())
        .expect("request");
    let openmetrics = send(&state, request).await;
    assert!(
        openmetrics
            .content_type
            .starts_with("application/openmetrics-text")
    );
    assert!(openmetrics.body.ends_with("# EOF\n"));
    assert!(openmetrics.body.contains("# TYPE http_requests counter"));

    let request = Request::get("/metrics")
        .header(header::ACCEPT, "application/json")
        .body(Body::empty())
        .expect("request");
    let snapshot = send(&state, request).await.json();
    for field in [
        "cpu_usage_percent",
        "memory_usage_percent",
        "memory_usage_bytes",
        "memory_usage_mb",
    ] {
        assert!(
            snapshot[field].is_number(),
            "{field} missing from {snapshot}"
        );
    }
}

#[tokio::test]
async fn hostile_paths_do_not_grow_label_cardinality() {
    let state = AppState::new(settings(), None);
    for i in 0..200 {
        get(&state, &format!("/random/{i}?x={i}")).await;
    }
    let weird = Request::builder()
        .method("BREW")
        .uri("/coffee")
        .body(Body::empty())
        .expect("request");
    send(&state, weird).await;
    let scrape = get(&state, "/metrics").await.body;
    let series: Vec<&str> = scrape
        .lines()
        .filter(|l| l.starts_with("http_requests_total{"))
        .collect();
    assert_eq!(series.len(), 2, "{series:#?}");
    assert!(
        scrape
            .contains(r#"http_requests_total{method="GET",handler="unmatched",status="404"} 200"#)
    );
    assert!(
        scrape
            .contains(r#"http_requests_total{method="OTHER",handler="unmatched",status="404"} 1"#)
    );
}
