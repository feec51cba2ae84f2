//! GPUs through NVML, loaded at run time: no driver or no GPU turns the collector off with one
//! INFO line. The sampler sees GPUs only through [`GpuSource`], so the mapping to metrics is
//! tested with fake readings on machines without a GPU.

use super::sample::Gpu;
use clap::ValueEnum;
use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::TemperatureSensor;

/// Whether to look for GPUs (`--gpu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GpuMode {
    /// Use NVML when it loads; otherwise run without GPU metrics (INFO log).
    Auto,
    /// As `auto`, but a missing NVML is logged as a warning: GPUs were expected.
    On,
    /// Never load NVML.
    Off,
}

/// Something that reads every GPU once per sample.
pub trait GpuSource: Send + std::fmt::Debug {
    fn read(&mut self) -> Result<Vec<Gpu>, String>;
}

/// Opens NVML per `mode`; `None` when the collector is off.
pub fn open(mode: GpuMode) -> Option<Box<dyn GpuSource>> {
    if mode == GpuMode::Off {
        tracing::info!("GPU collector off (--gpu off)");
        return None;
    }
    match Nvml::init() {
        Ok(nvml) => {
            let count = nvml.device_count().unwrap_or(0);
            tracing::info!(gpus = count, "GPU collector on (NVML)");
            Some(Box::new(NvmlSource(nvml)))
        }
        Err(error) if mode == GpuMode::On => {
            tracing::warn!(%error, "GPU collector off: NVML did not load although --gpu on asked for it");
            None
        }
        Err(error) => {
            tracing::info!(%error, "GPU collector off: no NVML driver or no GPU");
            None
        }
    }
}

#[derive(Debug)]
struct NvmlSource(Nvml);

impl GpuSource for NvmlSource {
    fn read(&mut self) -> Result<Vec<Gpu>, String> {
        let count = self.0.device_count().map_err(|e| e.to_string())?;
        let mut gpus = Vec::new();
        for index in 0..count {
            let device = self.0.device_by_index(index).map_err(|e| e.to_string())?;
            let memory = device.memory_info().ok();
            gpus.push(Gpu {
                index,
                uuid: device.uuid().unwrap_or_default(),
                name: device.name().unwrap_or_default(),
                utilization_percent: device.utilization_rates().ok().map(|u| f64::from(u.gpu)),
                memory_used_bytes: memory.as_ref().map(|m| m.used),
                memory_total_bytes: memory.as_ref().map(|m| m.total),
                temperature_celsius: device
                    .temperature(TemperatureSensor::Gpu)
                    .ok()
                    .map(f64::from),
                power_watts: device.power_usage().ok().map(|mw| f64::from(mw) / 1000.0),
            });
        }
        Ok(gpus)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_driver_the_collector_is_off_and_nothing_panics() {
        // These machines have no NVIDIA driver: both modes that try NVML come back empty.
        if Nvml::init().is_ok() {
            return; // A machine with a GPU: the other tests cover it.
        }
        assert!(open(GpuMode::Auto).is_none());
        assert!(open(GpuMode::On).is_none());
        assert!(open(GpuMode::Off).is_none());
    }
}
