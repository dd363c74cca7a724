//! Throughput: one large GET from atftpd with blksize 1428 and windowsize
//! 16, by the atftp client, checked byte for byte.

use crate::lab::{Lab, ATFTPD_SERVER};
use crate::paths::Subject;
use std::time::{Duration, Instant};

/// The file the GET fetches.
const FILE: &str = "large.bin";

/// Writes the file atftpd serves.
pub fn prepare(subject: &Subject, len: usize) {
    Lab::make_file(&subject.lab.atftpd_root().join(FILE), len, 32);
}

/// One GET: its wall time, or why it failed.
pub fn get(subject: &Subject) -> Result<Duration, String> {
    let lab = &subject.lab;
    let dst = lab.dir.join("large.out");
    let _ = std::fs::remove_file(&dst);
    let dst_s = dst.to_string_lossy().into_owned();
    let args = [
        "atftp",
        "--option",
        "blksize 1428",
        "--option",
        "windowsize 16",
        "-g",
        "-r",
        FILE,
        "-l",
        &dst_s,
        ATFTPD_SERVER,
    ];
    let start = Instant::now();
    let out = lab.client(&args);
    let wall = start.elapsed();
    let src = std::fs::read(lab.atftpd_root().join(FILE)).map_err(|e| e.to_string())?;
    let got = std::fs::read(&dst).unwrap_or_default();
    if !out.status.success() || got != src {
        return Err(format!(
            "atftp get: {} ({} of {} bytes): {}",
            out.status,
            got.len(),
            src.len(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(wall)
}
