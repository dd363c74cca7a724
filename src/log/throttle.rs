//! Rate limiting of refusals per client: a few a window, then one
//! summary ("suppressed N similar refusals from C") once the window is
//! over; and in total, so that spoofed sources, each a new client, cannot
//! make a line (and an ERROR reply) of every datagram.
//!
//! Pure bookkeeping with the clock passed in; it never writes. Its memory
//! is bounded: past [`MAX_CLIENTS`] clients at once, further clients share
//! one counter.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Lines logged per client and window before the rest are counted.
pub const BURST: u32 = 5;
/// The window's length.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Clients tracked at once; beyond that they share the overflow counter.
pub const MAX_CLIENTS: usize = 4096;
/// Lines logged per window from all clients together.
pub const GLOBAL_BURST: u32 = 100;
/// TFTP ERROR replies sent per client and window: more than log lines, so
/// a phone refused a few times in a row still hears why each time.
pub const REPLY_BURST: u32 = 20;
/// TFTP ERROR replies sent per window to all clients together.
pub const GLOBAL_REPLY_BURST: u32 = 200;

/// What to do with one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Log it.
    Log,
    /// Count it for the summary.
    Suppress,
}

/// Lines that were not logged for one client (`None`: clients past
/// [`MAX_CLIENTS`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary<K> {
    /// The client.
    pub client: Option<K>,
    /// How many lines were suppressed.
    pub suppressed: u64,
}

#[derive(Debug)]
struct Window {
    start: Instant,
    logged: u32,
    suppressed: u64,
}

/// Per-client windows, and the window of all clients together.
#[derive(Debug)]
pub struct Throttle<K> {
    windows: HashMap<K, Window>,
    overflow: u64,
    overflow_start: Option<Instant>,
    /// When the global window started, and how many lines it let through.
    global: Option<(Instant, u32)>,
    /// Lines let through per client and window.
    burst: u32,
    /// Lines let through per window from all clients.
    global_burst: u32,
}

impl<K> Default for Throttle<K> {
    /// The log lines' limits: [`BURST`] and [`GLOBAL_BURST`].
    fn default() -> Self {
        Throttle::new(BURST, GLOBAL_BURST)
    }
}

impl<K> Throttle<K> {
    /// Lets `burst` items a window through per client and `global_burst`
    /// from all clients together.
    pub fn new(burst: u32, global_burst: u32) -> Self {
        Throttle {
            windows: HashMap::new(),
            overflow: 0,
            overflow_start: None,
            global: None,
            burst,
            global_burst,
        }
    }
}

impl<K: Clone + Eq + Hash> Throttle<K> {
    /// Decides about one line for `client` at `now`: past the client's
    /// burst or the global one (for all clients) in a window, it is
    /// counted for the client's summary. Client windows that are over are
    /// not reset here: [`Throttle::due`] reports and resets them.
    pub fn admit(&mut self, client: &K, now: Instant) -> Admit {
        if !self.windows.contains_key(client) && self.windows.len() >= MAX_CLIENTS {
            self.windows
                .retain(|_, w| now.duration_since(w.start) < WINDOW || w.suppressed > 0);
            if self.windows.len() >= MAX_CLIENTS {
                self.overflow += 1;
                self.overflow_start.get_or_insert(now);
                return Admit::Suppress;
            }
        }
        let window = self.windows.entry(client.clone()).or_insert(Window {
            start: now,
            logged: 0,
            suppressed: 0,
        });
        if now.duration_since(window.start) >= WINDOW && window.suppressed == 0 {
            *window = Window {
                start: now,
                logged: 0,
                suppressed: 0,
            };
        }
        let global = match self.global {
            Some((start, logged)) if now.duration_since(start) < WINDOW => (start, logged),
            _ => (now, 0),
        };
        if window.logged < self.burst && global.1 < self.global_burst {
            window.logged += 1;
            self.global = Some((global.0, global.1 + 1));
            Admit::Log
        } else {
            window.suppressed += 1;
            Admit::Suppress
        }
    }

    /// The summaries of windows over at `now` (all of them with `flush`),
    /// each reported once; their clients start a fresh window.
    pub fn due(&mut self, now: Instant, flush: bool) -> Vec<Summary<K>> {
        let over = |start: Instant| flush || now.duration_since(start) >= WINDOW;
        let mut out = Vec::new();
        self.windows.retain(|client, w| {
            if !over(w.start) {
                return true;
            }
            if w.suppressed > 0 {
                out.push(Summary {
                    client: Some(client.clone()),
                    suppressed: w.suppressed,
                });
            }
            false
        });
        if self.overflow > 0 && self.overflow_start.is_some_and(over) {
            out.push(Summary {
                client: None,
                suppressed: self.overflow,
            });
            self.overflow = 0;
            self.overflow_start = None;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_summary_once_the_window_is_over() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        for _ in 0..BURST {
            assert_eq!(t.admit(&1, t0), Admit::Log);
        }
        for _ in 0..100 {
            assert_eq!(t.admit(&1, t0), Admit::Suppress);
        }
        // Another client is not affected.
        assert_eq!(t.admit(&2, t0), Admit::Log);
        assert_eq!(t.due(t0 + WINDOW / 2, false), vec![]);
        assert_eq!(
            t.due(t0 + WINDOW, false),
            vec![Summary {
                client: Some(1),
                suppressed: 100
            }]
        );
        // Reported once; the client starts afresh.
        assert_eq!(t.due(t0 + WINDOW, true), vec![]);
        assert_eq!(t.admit(&1, t0 + WINDOW), Admit::Log);
    }

    #[test]
    fn quiet_client_window_renews_without_summary() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        for _ in 0..BURST {
            t.admit(&1, t0);
        }
        assert_eq!(t.admit(&1, t0 + WINDOW), Admit::Log);
        assert_eq!(t.due(t0 + WINDOW, true), vec![]);
    }

    #[test]
    fn memory_is_bounded_by_an_overflow_counter() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        for client in 0..MAX_CLIENTS {
            t.admit(&client, t0);
        }
        assert_eq!(t.admit(&MAX_CLIENTS, t0), Admit::Suppress);
        assert_eq!(t.admit(&(MAX_CLIENTS + 1), t0), Admit::Suppress);
        // Past the global burst, the tracked clients were suppressed too;
        // the two untracked ones share one counter.
        let summaries = t.due(t0, true);
        let overflow: Vec<_> = summaries.iter().filter(|s| s.client.is_none()).collect();
        assert_eq!(
            overflow,
            vec![&Summary {
                client: None,
                suppressed: 2
            }]
        );
    }

    #[test]
    fn all_clients_together_are_bounded_too() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        // Spoofed sources: every datagram a new client.
        let logged = (0..1000u32)
            .filter(|c| t.admit(c, t0) == Admit::Log)
            .count();
        assert_eq!(logged, GLOBAL_BURST as usize);
        let suppressed: u64 = t.due(t0 + WINDOW, false).iter().map(|s| s.suppressed).sum();
        assert_eq!(suppressed, 1000 - u64::from(GLOBAL_BURST));
        // A new window lets lines through again.
        assert_eq!(t.admit(&5000, t0 + WINDOW), Admit::Log);
    }
}
