//! What happened when, relative to the stack's start: the failure tests print it, the demo
//! prints each event as it happens.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A shared, append-only list of timed events.
#[derive(Debug, Clone)]
pub struct Timeline {
    start: Instant,
    events: Arc<Mutex<Vec<(Duration, String)>>>,
    echo: bool,
}

impl Timeline {
    /// A timeline starting now; `echo` also prints every event to stderr as it is marked.
    pub fn new(echo: bool) -> Self {
        Self {
            start: Instant::now(),
            events: Arc::default(),
            echo,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn mark(&self, event: impl Into<String>) {
        let at = self.elapsed();
        let event = event.into();
        if self.echo {
            eprintln!("{}", line(at, &event));
        }
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((at, event));
    }

    /// Every event, one per line: `+  12.3s  event`.
    pub fn render(&self) -> String {
        let events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        events
            .iter()
            .map(|(at, event)| line(*at, event))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn line(at: Duration, event: &str) -> String {
    format!("+{:>6.1}s  {event}", at.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_render_in_order_with_their_offsets() {
        let timeline = Timeline::new(false);
        timeline.mark("first");
        timeline.mark("second");
        let rendered = timeline.render();
        let lines: Vec<&str> = rendered.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("+   0.0s  first"), "{rendered}");
        assert!(lines[1].ends_with("second"), "{rendered}");
    }
}
