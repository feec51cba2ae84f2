//! One JSON object per log line, with the active request's `trace_id` and `span_id`.

use super::request_trace::TraceIds;
use std::fmt::{self, Write as _};
use std::time::SystemTime;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Stores the [`TraceIds`] recorded as `trace_id`/`span_id` fields on a span in its extensions,
/// so every event inside that span can print them without formatting span fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceIdLayer;

impl<S> Layer<S> for TraceIdLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().fields().field("trace_id").is_none() {
            return;
        }
        let mut visitor = TraceIdVisitor::default();
        attrs.record(&mut visitor);
        if let (Some(trace_id), Some(span_id), Some(span)) =
            (visitor.trace_id, visitor.span_id, ctx.span(id))
        {
            span.extensions_mut().insert(TraceIds { trace_id, span_id });
        }
    }
}

#[derive(Default)]
struct TraceIdVisitor {
    trace_id: Option<u128>,
    span_id: Option<u64>,
}

impl Visit for TraceIdVisitor {
    fn record_u128(&mut self, field: &Field, value: u128) {
        if field.name() == "trace_id" {
            self.trace_id = Some(value);
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "span_id" {
            self.span_id = Some(value);
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn fmt::Debug) {}
}

/// `{"timestamp","level","target","message",<fields>,"trace_id","span_id"}` per line.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLogFormat;

impl<S, N> FormatEvent<S, N> for JsonLogFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = String::with_capacity(256);
        write!(
            line,
            "{{\"timestamp\":\"{}\",\"level\":\"{}\",\"target\":",
            humantime::format_rfc3339_micros(SystemTime::now()),
            meta.level()
        )?;
        push_json_string(&mut line, meta.target());
        event.record(&mut JsonFieldWriter { line: &mut line });
        let ids = ctx.event_scope().and_then(|mut scope| {
            scope.find_map(|span| span.extensions().get::<TraceIds>().copied())
        });
        if let Some(ids) = ids {
            write!(
                line,
                ",\"trace_id\":\"{}\",\"span_id\":\"{}\"",
                ids.trace_hex(),
                ids.span_hex()
            )?;
        }
        line.push('}');
        writeln!(writer, "{line}")
    }
}

struct JsonFieldWriter<'a> {
    line: &'a mut String,
}

impl JsonFieldWriter<'_> {
    fn key(&mut self, field: &Field) {
        self.line.push(',');
        push_json_string(self.line, field.name());
        self.line.push(':');
    }
}

impl Visit for JsonFieldWriter<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        push_json_string(self.line, value);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        let _ = write!(self.line, "{value}");
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        let _ = write!(self.line, "{value}");
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        let _ = write!(self.line, "{value}");
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        if value.is_finite() {
            let _ = write!(self.line, "{value}");
        } else {
            push_json_string(self.line, &value.to_string());
        }
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.key(field);
        push_json_string(self.line, &value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        push_json_string(self.line, &format!("{value:?}"));
    }
}

fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn capture(body: impl FnOnce()) -> Vec<serde_json::Value> {
        let sink = Captured::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::registry().with(TraceIdLayer).with(
            tracing_subscriber::fmt::layer()
                .event_format(JsonLogFormat)
                .with_writer(move || writer.clone()),
        );
        tracing::subscriber::with_default(subscriber, body);
        let bytes = sink.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
            .collect()
    }

    #[test]
    fn events_in_a_request_span_carry_its_trace_and_span_ids() {
        let ids = TraceIds {
            trace_id: 0x0af7651916cd43dd8448eb211c80319c,
            span_id: 0xb7ad6b7169203331,
        };
        let lines = capture(|| {
            let span =
                tracing::info_span!("request", trace_id = ids.trace_id, span_id = ids.span_id);
            let _entered = span.enter();
            tracing::info!(die_type = "fair", roll_value = 4u64, "rolled dice");
        });
        let line = &lines[0];
        assert_eq!(line["message"], "rolled dice");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["die_type"], "fair");
        assert_eq!(line["roll_value"], 4);
        assert_eq!(line["trace_id"], "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(line["span_id"], "b7ad6b7169203331");
        let timestamp = line["timestamp"].as_str().unwrap_or_default();
        assert!(humantime::parse_rfc3339(timestamp).is_ok(), "{timestamp}");
        assert!(timestamp.ends_with('Z'));
    }

    #[test]
    fn events_outside_spans_have_no_trace_fields_and_strings_are_escaped() {
        let lines = capture(|| tracing::warn!(detail = "a \"quoted\"\nline\u{1}", "odd"));
        assert_eq!(lines[0]["detail"], "a \"quoted\"\nline\u{1}");
        assert!(lines[0].get("trace_id").is_none());
    }
}
