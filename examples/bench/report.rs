//! The benchmark's output: tables printed as aligned text and collected as
//! Markdown (for doc/benchmarks.md), the targets with pass or miss, and the machine
//! the numbers come from.

use std::fmt::Write as _;

/// One table: a title, a header and rows of cells.
pub struct Table {
    /// What the table measures, with its units and sample sizes.
    pub title: String,
    /// Column names.
    pub header: Vec<String>,
    /// Rows of cells, as many as the header.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table.
    pub fn new(title: impl Into<String>, header: &[&str]) -> Table {
        Table {
            title: title.into(),
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Aligned text.
    pub fn text(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.len()).collect();
        for row in &self.rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.len());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
                if i == 0 {
                    let _ = write!(s, "{c:<w$}");
                } else {
                    let _ = write!(s, "  {c:>w$}");
                }
            }
            s.trim_end().to_owned() + "\n"
        };
        let mut out = format!("\n{}\n", self.title);
        out.push_str(&line(&self.header));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }

    /// A Markdown table under a bold title.
    pub fn markdown(&self) -> String {
        let mut out = format!("\n**{}**\n\n", self.title);
        out.push_str(&format!("| {} |\n", self.header.join(" | ")));
        out.push_str(&format!(
            "|{}\n",
            self.header
                .iter()
                .enumerate()
                .map(|(i, _)| if i == 0 { "---|" } else { "---:|" })
                .collect::<String>()
        ));
        for row in &self.rows {
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        out
    }
}

/// A target from the issue, checked against the numbers.
pub struct Target {
    /// What is promised.
    pub what: String,
    /// The measured value, in words.
    pub measured: String,
    /// Whether it was met; None when this run did not measure it.
    pub met: Option<bool>,
}

/// The targets as a table.
pub fn targets(targets: &[Target]) -> Table {
    let mut t = Table::new("Targets", &["target", "measured", "result"]);
    for target in targets {
        let result = match target.met {
            Some(true) => "pass",
            Some(false) => "MISS",
            None => "not measured",
        };
        t.row(vec![
            target.what.clone(),
            target.measured.clone(),
            result.to_owned(),
        ]);
    }
    t
}

/// The machine, in one line: CPU, cores, memory, kernel.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, {mem_gib:.0} GiB, Linux {}",
        kernel.trim()
    )
}

/// The 1-, 5- and 15-minute load averages.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
