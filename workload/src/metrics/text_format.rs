//! Converts prometheus-client's OpenMetrics text into the Prometheus text format 0.0.4.
//!
//! prometheus-client only writes OpenMetrics. Scrapers that do not ask for it (curl, older
//! agents, `promtool check metrics`) expect 0.0.4, which differs in a few mechanical ways:
//! counter families are named with `_total`, info families become gauges named `_info`,
//! `# UNIT` and `# EOF` do not exist, and samples carry no exemplars.

use std::fmt::Write;

pub fn openmetrics_to_prometheus(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut pending_help: Option<&str> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            pending_help = Some(rest);
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let (name_suffix, kind) = match kind {
                "counter" => ("_total", "counter"),
                "info" => ("_info", "gauge"),
                "stateset" => ("", "gauge"),
                "gauge" | "histogram" | "summary" => ("", kind),
                _ => ("", "untyped"),
            };
            if let Some(help) = pending_help.take() {
                let text = help.split_once(' ').map_or("", |(_, text)| text);
                let _ = writeln!(out, "# HELP {name}{name_suffix} {text}");
            }
            let _ = writeln!(out, "# TYPE {name}{name_suffix} {kind}");
        } else if line.starts_with('#') {
            // `# UNIT` and `# EOF` have no 0.0.4 equivalent.
        } else if !line.is_empty() {
            out.push_str(without_exemplar(line));
            out.push('\n');
        }
    }
    out
}

/// Drops a trailing ` # {labels} value [timestamp]` exemplar, minding quoted label values.
fn without_exemplar(sample: &str) -> &str {
    // A label set, if any, opens right after the metric name (which contains no spaces).
    let labels_end = match sample.find(['{', ' ']) {
        Some(open) if sample[open..].starts_with('{') => {
            closing_brace(sample, open).unwrap_or(sample.len())
        }
        _ => 0,
    };
    match sample[labels_end..].find(" # ") {
        Some(at) => &sample[..labels_end + at],
        None => sample,
    }
}

fn closing_brace(text: &str, open: usize) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (offset, ch) in text[open..].char_indices() {
        match ch {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '}' if !in_quotes => return Some(open + offset + 1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_get_total_family_names_and_units_and_eof_go() {
        let om = "# HELP http_requests Requests.\n# TYPE http_requests counter\n\
                  http_requests_total{handler=\"/roll\"} 3\n# UNIT x_seconds seconds\n# EOF\n";
        assert_eq!(
            openmetrics_to_prometheus(om),
            "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n\
             http_requests_total{handler=\"/roll\"} 3\n"
        );
    }

    #[test]
    fn info_becomes_a_gauge_named_info() {
        let om = "# HELP dice_build Build.\n# TYPE dice_build info\ndice_build_info{version=\"0.1.0\"} 1\n";
        assert_eq!(
            openmetrics_to_prometheus(om),
            "# HELP dice_build_info Build.\n# TYPE dice_build_info gauge\ndice_build_info{version=\"0.1.0\"} 1\n"
        );
    }

    #[test]
    fn exemplars_are_stripped_but_hashes_inside_label_values_survive() {
        let om = "d_bucket{le=\"0.5\",path=\"/a # {b}\"} 4 # {trace_id=\"abc\"} 0.3 1700000000.0\n\
                  d_bucket{le=\"+Inf\"} 5\nplain 7 # {trace_id=\"x\"} 1\n";
        assert_eq!(
            openmetrics_to_prometheus(om),
            "d_bucket{le=\"0.5\",path=\"/a # {b}\"} 4\nd_bucket{le=\"+Inf\"} 5\nplain 7\n"
        );
    }

    #[test]
    fn escaped_quotes_in_label_values_do_not_end_the_label_set() {
        let om = "m{a=\"x\\\"} # y\"} 1 # {trace_id=\"t\"} 1\n";
        assert_eq!(openmetrics_to_prometheus(om), "m{a=\"x\\\"} # y\"} 1\n");
    }
}
