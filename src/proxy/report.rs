//! The log line of a forwarded request and, with `-v` or `-n`, what came
//! with it: lowered blksizes, RFC irregularities, a longer idle limit,
//! the installed rules.
//!
//! This file owns those lines' wording.

use super::dissect::Dissected;
use super::Proxy;
use crate::firewall::{Firewall, ReturnPath, IDLE_MARGIN, STATE_IDLE_LIMIT};
use crate::log::{bounded, Event, Level};
use crate::tftp;

impl<'a, F: Firewall> Proxy<'a, F> {
    /// The request's log line (`client -> proxy -> server RRQ "file"`,
    /// options appended with `-v`) and, with `-v` or `-n`, the rules.
    pub(super) fn log_forwarded(&mut self, path: &ReturnPath, request: &Dissected<'_>) {
        let mut line = format!(
            "{} -> {} -> {} {}",
            path.client, path.proxy, path.server, request.what
        );
        let options = if self.log.verbose {
            tftp::describe_options(request.request.options())
        } else {
            String::new()
        };
        if !options.is_empty() {
            line.push(' ');
            line.push_str(&options);
        }
        let mut event = Event::new("request", line)
            .field("client", path.client)
            .field("proxy", path.proxy)
            .field("server", path.server)
            .field("op", request.label.opcode)
            .field("file", request.label.bare_filename());
        if !options.is_empty() {
            event = event.field("options", options);
        }
        self.log.event(Level::Info, &event);
        if self.log.verbose {
            if let Some(lowered) = &request.lowered {
                // One line, however many blksize options the request has.
                let requested: Vec<String> =
                    lowered.requested.iter().map(|r| tftp::quoted(r)).collect();
                self.log.info(format_args!(
                    "{}: blksize {} lowered to {} (--max-blksize)",
                    path.client,
                    bounded::join_bounded(&requested, ", ", bounded::MAX_LIST),
                    lowered.max
                ));
            }
            let irregularities = request.request.irregularities();
            if !irregularities.is_empty() {
                let list = bounded::join_bounded(irregularities, "; ", bounded::MAX_LIST);
                self.log.info(format_args!(
                    "{}: not RFC-strict, forwarded as the servers take it: {list}",
                    path.client
                ));
            }
        }
        if self.log.verbose || self.settings.dry_run {
            if path.idle_limit > STATE_IDLE_LIMIT {
                self.log.info(format_args!(
                    "{}: the transfer's state counts as over after {} s without a packet \
                     (the request's timeout option, plus {} s)",
                    path.client,
                    path.idle_limit.as_secs(),
                    IDLE_MARGIN.as_secs()
                ));
            }
            let verb = if self.settings.dry_run {
                "would install"
            } else {
                "installed"
            };
            for rule in self.firewall.describe_return_path(path).lines() {
                self.log.info(format_args!("{verb}: {rule}"));
            }
        }
    }
}
