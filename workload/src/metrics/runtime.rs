//! Build info and Tokio runtime gauges: the Rust counterparts of `python_info` and `python_gc_*`.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use tokio::runtime::Handle;

pub fn register(registry: &mut Registry) {
    registry.register(
        "dice_build",
        "Build information of the running dice-server",
        Info::new(vec![
            ("version", env!("CARGO_PKG_VERSION")),
            ("rustc", env!("DICE_RUSTC_VERSION")),
        ]),
    );
    if let Ok(handle) = Handle::try_current() {
        registry.register_collector(Box::new(RuntimeCollector { handle }));
    }
}

#[derive(Debug)]
struct RuntimeCollector {
    handle: Handle,
}

impl Collector for RuntimeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let metrics = self.handle.metrics();
        let readings = [
            (
                "tokio_runtime_workers",
                "Worker threads of the Tokio runtime.",
                metrics.num_workers(),
            ),
            (
                "tokio_runtime_alive_tasks",
                "Tasks currently alive in the Tokio runtime.",
                metrics.num_alive_tasks(),
            ),
            (
                "tokio_runtime_global_queue_depth",
                "Tasks waiting in the Tokio runtime's global queue.",
                metrics.global_queue_depth(),
            ),
        ];
        for (name, help, value) in readings {
            let gauge = ConstGauge::new(value as i64);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}
