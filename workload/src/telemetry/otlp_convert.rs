//! The registry's metric families as an OTLP export request, following OpenTelemetry's
//! Prometheus compatibility rules: counters become cumulative monotonic sums named without
//! `_total`, gauges stay gauges, histograms become explicit-bucket histograms.

use crate::metrics::families::model::{self, MetricFamily, MetricType};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

/// When the series were read, and since when cumulative values count (process start).
#[derive(Debug, Clone, Copy)]
pub struct Times {
    pub start_unix_nano: u64,
    pub now_unix_nano: u64,
}

pub fn export_request(
    families: &[MetricFamily],
    resource: &[(String, String)],
    times: Times,
) -> ExportMetricsServiceRequest {
    let metrics = families.iter().filter_map(|f| metric(f, times)).collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource.iter().map(|(k, v)| attribute(k, v)).collect(),
                ..Resource::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "dice-server".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..InstrumentationScope::default()
                }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn metric(family: &MetricFamily, times: Times) -> Option<Metric> {
    let cumulative = AggregationTemporality::Cumulative as i32;
    let (name, data) = match MetricType::try_from(family.r#type).ok()? {
        MetricType::Counter => (
            family.name.strip_suffix("_total").unwrap_or(&family.name),
            Data::Sum(Sum {
                data_points: points(family, times, |m| m.counter.as_ref().map(|c| c.value)),
                aggregation_temporality: cumulative,
                is_monotonic: true,
            }),
        ),
        MetricType::Gauge => (
            family.name.as_str(),
            Data::Gauge(Gauge {
                data_points: points(family, times, |m| m.gauge.as_ref().map(|g| g.value)),
            }),
        ),
        MetricType::Histogram => (
            family.name.as_str(),
            Data::Histogram(Histogram {
                data_points: family
                    .metric
                    .iter()
                    .filter_map(|m| histogram_point(m, times))
                    .collect(),
                aggregation_temporality: cumulative,
            }),
        ),
        // Summaries, untyped and gauge histograms: the registry has none.
        _ => return None,
    };
    Some(Metric {
        name: name.to_owned(),
        description: family.help.clone(),
        unit: family.unit.clone(),
        data: Some(data),
        ..Metric::default()
    })
}

fn points(
    family: &MetricFamily,
    times: Times,
    value: impl Fn(&model::Metric) -> Option<f64>,
) -> Vec<NumberDataPoint> {
    family
        .metric
        .iter()
        .filter_map(|m| {
            Some(NumberDataPoint {
                attributes: labels(m),
                start_time_unix_nano: times.start_unix_nano,
                time_unix_nano: times.now_unix_nano,
                value: Some(number_data_point::Value::AsDouble(value(m)?)),
                ..NumberDataPoint::default()
            })
        })
        .collect()
}

/// Prometheus buckets are cumulative with inclusive upper bounds; OTLP wants each bucket's own
/// count, one more count than bounds (the overflow bucket last).
fn histogram_point(metric: &model::Metric, times: Times) -> Option<HistogramDataPoint> {
    let histogram = metric.histogram.as_ref()?;
    let mut explicit_bounds = Vec::new();
    let mut bucket_counts = Vec::new();
    let mut below = 0;
    for bucket in histogram
        .bucket
        .iter()
        .filter(|b| b.upper_bound.is_finite())
    {
        explicit_bounds.push(bucket.upper_bound);
        bucket_counts.push(bucket.cumulative_count.saturating_sub(below));
        below = below.max(bucket.cumulative_count);
    }
    bucket_counts.push(histogram.sample_count.saturating_sub(below));
    Some(HistogramDataPoint {
        attributes: labels(metric),
        start_time_unix_nano: times.start_unix_nano,
        time_unix_nano: times.now_unix_nano,
        count: histogram.sample_count,
        sum: Some(histogram.sample_sum),
        bucket_counts,
        explicit_bounds,
        ..HistogramDataPoint::default()
    })
}

fn labels(metric: &model::Metric) -> Vec<KeyValue> {
    metric
        .label
        .iter()
        .map(|l| attribute(&l.name, &l.value))
        .collect()
}

fn attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dice::Die;
    use crate::metrics::Metrics;
    use crate::sampler::Samples;
    use std::sync::Arc;

    fn converted() -> Result<Vec<Metric>, std::fmt::Error> {
        let metrics = Metrics::new(Arc::new(Samples::default()));
        metrics.dice.record_success(Die::Fair, 3);
        metrics.dice.record_success(Die::Fair, 6);
        let times = Times {
            start_unix_nano: 1,
            now_unix_nano: 2,
        };
        let request = export_request(&metrics.families()?, &[], times);
        Ok(request.resource_metrics[0].scope_metrics[0].metrics.clone())
    }

    fn find<'a>(metrics: &'a [Metric], name: &str) -> &'a Metric {
        metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no {name}"))
    }

    #[tokio::test]
    async fn counters_become_monotonic_cumulative_sums_without_total() -> Result<(), std::fmt::Error>
    {
        let metrics = converted()?;
        let Some(Data::Sum(sum)) = &find(&metrics, "dice_rolls").data else {
            panic!("dice_rolls is not a sum");
        };
        assert!(sum.is_monotonic);
        assert_eq!(
            sum.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        let fair_successes = sum.data_points.iter().find(|p| {
            let has = |k: &str, v: &str| {
                p.attributes.iter().any(|a| {
                    a.key == k
                        && a.value
                            == Some(AnyValue {
                                value: Some(any_value::Value::StringValue(v.into())),
                            })
                })
            };
            has("die_type", "fair") && has("result", "success")
        });
        assert_eq!(
            fair_successes.and_then(|p| p.value),
            Some(number_data_point::Value::AsDouble(2.0))
        );
        Ok(())
    }

    #[tokio::test]
    async fn histograms_keep_counts_per_bucket_plus_overflow() -> Result<(), std::fmt::Error> {
        let metrics = converted()?;
        let Some(Data::Histogram(histogram)) = &find(&metrics, "dice_roll_value").data else {
            panic!("dice_roll_value is not a histogram");
        };
        let fair = histogram
            .data_points
            .iter()
            .find(|p| {
                p.attributes.iter().any(|a| {
                    a.value
                        == Some(AnyValue {
                            value: Some(any_value::Value::StringValue("fair".into())),
                        })
                })
            })
            .unwrap_or_else(|| panic!("no fair point"));
        assert_eq!(fair.count, 2);
        assert_eq!(fair.sum, Some(9.0));
        assert_eq!(
            fair.explicit_bounds,
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
        );
        assert_eq!(fair.bucket_counts, vec![0, 0, 1, 0, 0, 1, 0, 0, 0]);
        Ok(())
    }
}
