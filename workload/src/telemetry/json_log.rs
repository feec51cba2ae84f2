//! One JSON object per log line, with the current request's `trace_id` and `span_id`.
//!
//! The ids come from a Tokio task-local set by the request middleware ([`TraceIds::scope`]),
//! not from a `tracing` span: a span per request (slab slot, enter/exit on every poll, filter
//! checks) cost more than the rest of the log line, and nothing else read it.

use super::json_line::{
    Escaping, push_hex, push_i64, push_json_string, push_rfc3339_micros, push_u64,
};
use super::request_trace::TraceIds;
use std::cell::RefCell;
use std::fmt::{self, Write};
use std::time::SystemTime;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// `{"timestamp","level","target","message",<fields>,"trace_id","span_id"}` per line.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLogFormat;

thread_local! {
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

impl<S, N> FormatEvent<S, N> for JsonLogFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        LINE.with_borrow_mut(|line| {
            line.clear();
            format_line(line, event, TraceIds::current());
            writer.write_str(line)
        })
    }
}

fn format_line(line: &mut String, event: &Event<'_>, ids: Option<TraceIds>) {
    let meta = event.metadata();
    line.push_str("{\"timestamp\":\"");
    push_rfc3339_micros(line, SystemTime::now());
    line.push_str("\",\"level\":\"");
    line.push_str(meta.level().as_str());
    line.push_str("\",\"target\":");
    push_json_string(line, meta.target());
    event.record(&mut JsonFieldWriter { line });
    if let Some(ids) = ids {
        line.push_str(",\"trace_id\":\"");
        push_hex(line, ids.trace_id, 32);
        line.push_str("\",\"span_id\":\"");
        push_hex(line, u128::from(ids.span_id), 16);
        line.push('"');
    }
    line.push_str("}\n");
}

/// Span fields are never printed (only the [`TraceIds`] extension is), so formatting them into
/// a string at every span creation, as the default field formatter does, would be wasted work.
#[derive(Debug, Clone, Copy, Default)]
pub struct SkipSpanFields;

impl<'writer> FormatFields<'writer> for SkipSpanFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        _writer: Writer<'writer>,
        _fields: R,
    ) -> fmt::Result {
        Ok(())
    }
}

/// Appends `,"name":value` per field.
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
        self.line.push_str(if value { "true" } else { "false" });
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        push_u64(self.line, value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        push_i64(self.line, value);
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
        self.record_debug(field, &format_args!("{value}"));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        self.line.push('"');
        let _ = write!(Escaping(self.line), "{value:?}");
        self.line.push('"');
    }
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
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .fmt_fields(SkipSpanFields)
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
    fn events_in_a_request_scope_carry_its_trace_and_span_ids() {
        let ids = TraceIds {
            trace_id: 0x0af7651916cd43dd8448eb211c80319c,
            span_id: 0xb7ad6b7169203331,
        };
        let lines = capture(|| {
            ids.sync_scope(|| tracing::info!(die_type = "fair", roll_value = 4u64, "rolled dice"));
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
    fn events_outside_requests_have_no_trace_fields_and_strings_are_escaped() {
        let text = "a \"quoted\"\nline\u{1} with é, ✓ and \\ back\tslash";
        let lines = capture(|| tracing::warn!(detail = text, "odd"));
        assert_eq!(lines[0]["detail"], text);
        assert!(lines[0].get("trace_id").is_none());
    }
}
