use super::*;

fn config(vars: &[(&str, &str)]) -> Result<Option<MetricsExport>, TelemetryError> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    MetricsExport::from_vars(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
}

#[test]
fn no_endpoint_or_an_explicit_off_switch_means_no_export() -> Result<(), TelemetryError> {
    assert_eq!(config(&[])?, None);
    let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
    assert_eq!(
        config(&[endpoint, ("OTEL_METRICS_EXPORTER", "none")])?,
        None
    );
    assert_eq!(config(&[endpoint, ("OTEL_SDK_DISABLED", "true")])?, None);
    Ok(())
}

#[test]
fn the_general_endpoint_gets_the_metrics_path_and_defaults_apply() -> Result<(), TelemetryError> {
    let export = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")])?
        .ok_or(TelemetryError::Config("expected an export".into()))?;
    assert_eq!(export.endpoint, "http://collector:4318/v1/metrics");
    assert_eq!(export.protocol, Protocol::HttpProtobuf);
    assert_eq!(export.interval, Duration::from_secs(60));
    assert_eq!(export.timeout, Duration::from_secs(10));
    assert!(
        export
            .resource
            .contains(&("service.name".into(), "dice-roller".into()))
    );
    Ok(())
}

#[test]
fn specific_variables_win_over_general_ones() -> Result<(), TelemetryError> {
    let export = config(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "http://metrics:9000/custom",
        ),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%20general,x-team=dice",
        ),
        (
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
            "Authorization=Bearer%20metrics",
        ),
        ("OTEL_METRIC_EXPORT_INTERVAL", "5000"),
        ("OTEL_SERVICE_NAME", "rolls"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=ignored,deployment.environment=prod",
        ),
    ])?
    .ok_or(TelemetryError::Config("expected an export".into()))?;
    assert_eq!(export.endpoint, "http://metrics:9000/custom");
    assert_eq!(
        export.headers,
        vec![
            ("x-team".to_owned(), "dice".to_owned()),
            ("Authorization".to_owned(), "Bearer metrics".to_owned()),
        ]
    );
    assert_eq!(export.interval, Duration::from_secs(5));
    assert!(
        export
            .resource
            .contains(&("service.name".into(), "rolls".into()))
    );
    assert!(
        export
            .resource
            .contains(&("deployment.environment".into(), "prod".into()))
    );
    assert!(
        !export
            .resource
            .contains(&("service.name".into(), "ignored".into()))
    );
    Ok(())
}

#[test]
fn grpc_uses_the_endpoint_as_given() -> Result<(), TelemetryError> {
    let export = config(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ])?
    .ok_or(TelemetryError::Config("expected an export".into()))?;
    assert_eq!(export.endpoint, "http://collector:4317");
    assert_eq!(export.protocol, Protocol::Grpc);
    Ok(())
}

#[test]
fn bad_settings_are_errors_that_name_the_variable() {
    let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
    let message = |vars: &[(&str, &str)]| {
        config(vars)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    assert!(
        message(&[endpoint, ("OTEL_METRIC_EXPORT_INTERVAL", "5s")])
            .contains("OTEL_METRIC_EXPORT_INTERVAL")
    );
    assert!(
        message(&[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]).contains("http/json")
    );
    assert!(message(&[endpoint, ("OTEL_METRICS_EXPORTER", "console")]).contains("console"));
}
