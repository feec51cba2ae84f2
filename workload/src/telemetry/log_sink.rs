//! Batched log output: lines are appended to a buffer and written out by a flusher thread.
//!
//! Writing each log line to stdout costs a syscall on the request path, and handing each line to
//! a writer thread through a channel (as `tracing-appender` does) costs a thread wake-up per
//! line. Here a request only appends to a buffer under a short lock; a flusher thread writes the
//! buffer every [`FLUSH_INTERVAL`]. Nothing is dropped: when the buffer is full, the caller
//! writes it out itself (backpressure), and [`LogSinkGuard`] flushes what is left on drop.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;
use tracing_subscriber::fmt::MakeWriter;

pub const FLUSH_INTERVAL: Duration = Duration::from_millis(25);
const DEFAULT_CAPACITY: usize = 256 * 1024;

type Output = Box<dyn Write + Send>;

#[derive(Clone)]
pub struct LogSink {
    shared: Arc<Shared>,
}

struct Shared {
    pending: Mutex<Vec<u8>>,
    /// The last written-out buffer, emptied, to become `pending` at the next cut: a fresh
    /// buffer per cut cost an allocation of `capacity` and its page faults every
    /// [`FLUSH_INTERVAL`] (10,000 faults in 5 s at 100,000 lines/s).
    spare: Mutex<Vec<u8>>,
    /// Held while writing to the output; taken before `pending` is released so batches
    /// reach the output in the order they were cut.
    output: Mutex<Output>,
    capacity: usize,
    closed: AtomicBool,
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSink")
            .field("capacity", &self.shared.capacity)
            .finish()
    }
}

/// Stops the flusher and writes out every buffered line when dropped.
#[derive(Debug)]
pub struct LogSinkGuard {
    sink: LogSink,
    flusher: Option<JoinHandle<()>>,
}

impl LogSink {
    /// A sink over stdout with its flusher thread.
    pub fn stdout() -> io::Result<(LogSink, LogSinkGuard)> {
        Self::start(Box::new(io::stdout()), DEFAULT_CAPACITY)
    }

    pub fn start(output: Output, capacity: usize) -> io::Result<(LogSink, LogSinkGuard)> {
        let sink = LogSink {
            shared: Arc::new(Shared {
                pending: Mutex::new(Vec::with_capacity(capacity)),
                spare: Mutex::new(Vec::with_capacity(capacity)),
                output: Mutex::new(output),
                capacity,
                closed: AtomicBool::new(false),
            }),
        };
        let flusher_sink = sink.clone();
        let flusher = std::thread::Builder::new()
            .name("log-flusher".into())
            .spawn(move || {
                while !flusher_sink.shared.closed.load(Ordering::Acquire) {
                    std::thread::park_timeout(FLUSH_INTERVAL);
                    flusher_sink.flush_pending();
                }
            })?;
        let guard = LogSinkGuard {
            sink: sink.clone(),
            flusher: Some(flusher),
        };
        Ok((sink, guard))
    }

    /// Writes out everything buffered so far, in order.
    pub fn flush_pending(&self) {
        let mut pending = lock(&self.shared.pending);
        if pending.is_empty() {
            return;
        }
        let spare = std::mem::take(&mut *lock(&self.shared.spare));
        let mut batch = std::mem::replace(&mut *pending, spare);
        // Empty only when a concurrent cut took it first.
        pending.reserve(self.shared.capacity);
        let mut output = lock(&self.shared.output);
        drop(pending);
        // stdout going away is not something a log line can report anywhere; keep serving.
        let _ = output.write_all(&batch).and_then(|()| output.flush());
        drop(output);
        batch.clear();
        *lock(&self.shared.spare) = batch;
    }

    fn append(&self, line: &[u8]) {
        let line = &*super::redact::userinfo(line);
        let mut pending = lock(&self.shared.pending);
        if pending.len() + line.len() > self.shared.capacity && !pending.is_empty() {
            drop(pending);
            self.flush_pending();
            pending = lock(&self.shared.pending);
        }
        pending.extend_from_slice(line);
    }
}

/// A poisoned lock only means another thread panicked mid-append; the bytes are still good.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Write for &LogSink {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        self.append(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogSink {
    type Writer = &'a LogSink;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

impl Drop for LogSinkGuard {
    fn drop(&mut self) {
        self.sink.shared.closed.store(true, Ordering::Release);
        if let Some(flusher) = self.flusher.take() {
            flusher.thread().unpark();
            let _ = flusher.join();
        }
        self.sink.flush_pending();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn lines(captured: &Captured) -> Vec<String> {
        String::from_utf8_lossy(&lock(&captured.0))
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn every_line_from_every_thread_arrives_in_per_thread_order() {
        let captured = Captured::default();
        // A small buffer forces the caller-writes-it-out path many times.
        let (sink, guard) = LogSink::start(Box::new(captured.clone()), 512).expect("sink");
        let writers: Vec<_> = (0..4)
            .map(|thread| {
                let sink = sink.clone();
                std::thread::spawn(move || {
                    for n in 0..2_000 {
                        (&sink)
                            .write_all(format!("{thread} {n}\n").as_bytes())
                            .expect("append");
                    }
                })
            })
            .collect();
        writers.into_iter().for_each(|w| w.join().expect("writer"));
        drop(guard);
        let lines = lines(&captured);
        assert_eq!(lines.len(), 8_000);
        for thread in 0..4 {
            let seen: Vec<u32> = lines
                .iter()
                .filter_map(|l| l.strip_prefix(&format!("{thread} "))?.parse().ok())
                .collect();
            assert_eq!(seen, (0..2_000).collect::<Vec<_>>(), "thread {thread}");
        }
    }

    #[test]
    fn the_flusher_writes_lines_without_being_asked() {
        let captured = Captured::default();
        let (sink, _guard) = LogSink::start(Box::new(captured.clone()), 64 * 1024).expect("sink");
        (&sink).write_all(b"hello\n").expect("append");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while lines(&captured).is_empty() {
            assert!(std::time::Instant::now() < deadline, "never flushed");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(lines(&captured), ["hello"]);
    }
}
