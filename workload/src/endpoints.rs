//! The endpoint table: every route the server answers, and the bounded `handler` label values
//! metrics and traces use. A leaf: it imports nothing of the crate.

use serde::Serialize;

/// The `handler` label of every request whose path matches no route.
pub const UNMATCHED: &str = "unmatched";

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Endpoint {
    pub path: &'static str,
    pub description: &'static str,
}

/// Every route the server answers; `GET /` lists them.
pub static ENDPOINTS: [Endpoint; 13] = [
    Endpoint {
        path: "/",
        description: "Service name, version and this endpoint list (the live page for browsers)",
    },
    Endpoint {
        path: "/roll",
        description: "Roll a die: ?die=fair (1-6) or ?die=risky (2-7, sometimes fails)",
    },
    Endpoint {
        path: "/rolldice",
        description: "Roll the fair die (legacy contract: {\"roll\": n})",
    },
    Endpoint {
        path: "/health",
        description: "Service health",
    },
    Endpoint {
        path: "/livez",
        description: "Kubernetes liveness probe",
    },
    Endpoint {
        path: "/readyz",
        description: "Kubernetes readiness probe; 503 once shutdown has begun",
    },
    Endpoint {
        path: "/metrics",
        description: "Prometheus metrics (OpenMetrics on request; JSON snapshot with Accept: application/json)",
    },
    Endpoint {
        path: "/api/v1/system",
        description: "Latest system sample: cpu, ram, gpu, temperature, disk, timestamp",
    },
    Endpoint {
        path: "/api/v1/history",
        description: "Stored history: ?metric=cpu|ram|gpu|temperature|disk&from=-1h&to=now&step=30s",
    },
    Endpoint {
        path: "/gpu",
        description: "GPUs seen through NVML ({\"available\": false, \"gpus\": []} without one)",
    },
    Endpoint {
        path: "/ui",
        description: "Live page: charts of CPU, memory, GPU, disk, temperature, requests and rolls",
    },
    Endpoint {
        path: "/ws",
        description: "WebSocket feed of every new system sample (what /ui draws)",
    },
    Endpoint {
        path: "/favicon.ico",
        description: "No icon: an empty 204 so browsers stop asking",
    },
];

/// The route template for a request path: the bounded `handler` label value.
pub fn route_template(path: &str) -> &'static str {
    ENDPOINTS
        .iter()
        .find(|e| e.path == path)
        .map_or(UNMATCHED, |e| e.path)
}
