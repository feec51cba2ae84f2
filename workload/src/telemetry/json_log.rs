//! One JSON object per log line, with the current request's `trace_id` and `span_id`.
//!
//! The ids come from a Tokio task-local set by the request middleware ([`TraceIds::scope`]),
//! not from a `tracing` span: a span per request (slab slot, enter/exit on every poll, filter
//! checks) cost more than the rest of the log line, and nothing else read it.

use super::request_trace::TraceIds;
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
        let meta = event.metadata();
        write!(
            writer,
            "{{\"timestamp\":\"{}\",\"level\":\"{}\",\"target\":",
            humantime::format_rfc3339_micros(SystemTime::now()),
            meta.level()
        )?;
        write_json_string(&mut writer, meta.target())?;
        let mut fields = JsonFieldWriter {
            out: &mut writer,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        if let Some(ids) = TraceIds::current() {
            write!(
                writer,
                ",\"trace_id\":\"{:032x}\",\"span_id\":\"{:016x}\"",
                ids.trace_id, ids.span_id
            )?;
        }
        writer.write_str("}\n")
    }
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

/// Writes `,"name":value` per field; the first write error is kept and reported.
struct JsonFieldWriter<'a, W: Write> {
    out: &'a mut W,
    result: fmt::Result,
}

impl<W: Write> JsonFieldWriter<'_, W> {
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut W) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = self
                .out
                .write_char(',')
                .and_then(|()| write_json_string(self.out, field.name()))
                .and_then(|()| self.out.write_char(':'))
                .and_then(|()| value(self.out));
        }
    }
}

impl<W: Write> Visit for JsonFieldWriter<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, |out| write_json_string(out, value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |out| write!(out, "{value}"));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |out| write!(out, "{value}"));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |out| write!(out, "{value}"));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.field(field, |out| write!(out, "{value}"));
        } else {
            self.field(field, |out| write_json_string(out, &value.to_string()));
        }
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.field(field, |out| write_json_string(out, &value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, |out| write_json_string(out, &format!("{value:?}")));
    }
}

/// Writes `text` as a JSON string, copying unescaped runs whole.
fn write_json_string(out: &mut impl Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    let mut plain_from = 0;
    for (at, byte) in text.bytes().enumerate() {
        let escaped = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.write_str(&text[plain_from..at])?;
        if escaped.is_empty() {
            write!(out, "\\u{byte:04x}")?;
        } else {
            out.write_str(escaped)?;
        }
        plain_from = at + 1;
    }
    out.write_str(&text[plain_from..])?;
    out.write_char('"')
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
