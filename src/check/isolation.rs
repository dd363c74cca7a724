//! Judges what Linux `--check` reads about isolation and state: strict
//! reverse-path filtering on the phones' interface (a second layer under
//! the helper's own check that a client is where its request came from),
//! and how full the conntrack table is. Pure functions over values read
//! elsewhere (`check/linux.rs`).

use super::Finding;
use crate::firewall::netfilter::table_load;

/// Judges `rp_filter` on the phones' interface. The kernel applies the
/// larger of `conf.all` and the interface's value (`IN_DEV_RPFILTER`,
/// include/linux/inetdevice.h): 1 is strict, 2 loose, 0 off. Not strict
/// is no fault: the helper refuses forged clients itself.
pub fn judge_rp_filter(interface: &str, all: Option<u8>, dev: Option<u8>) -> Finding {
    let Some(effective) = all.max(dev) else {
        return Finding::warning(format!(
            "cannot read net.ipv4.conf.{interface}.rp_filter: is {interface} the phones' interface?"
        ));
    };
    if effective == 1 {
        Finding::ok(format!(
            "strict reverse-path filtering on {interface} (rp_filter 1): the kernel drops forged IPv4 sources before the helper sees them"
        ))
    } else {
        let mode = if effective == 2 { "loose" } else { "off" };
        Finding::ok(format!(
            "reverse-path filtering on {interface} is {mode} (rp_filter {effective}): the helper refuses forged clients itself; for a second layer: sysctl -w net.ipv4.conf.{interface}.rp_filter=1 (and for IPv6 an nftables rule: fib saddr . iif oif missing drop)"
        ))
    }
}

/// Judges the conntrack table's fill (`None`: not readable).
pub fn judge_conntrack_load(load: Option<(u64, u64)>) -> Finding {
    match load {
        None => Finding::warning(
            "cannot read nf_conntrack_count and nf_conntrack_max: is nf_conntrack loaded?",
        ),
        Some((count, max)) => match table_load::judge(count, max) {
            Some(pressure) => Finding::warning(pressure.to_string()),
            None => Finding::ok(format!(
                "the conntrack table holds {count} of {max} entries (a warning from {}%)",
                table_load::NEARLY_FULL_PERCENT
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;

    #[test]
    fn strict_is_reported_and_loose_or_off_named_with_the_sysctl() {
        let f = judge_rp_filter("lan0", Some(0), Some(1));
        assert_eq!(f.status, Status::Ok);
        assert!(f.text.starts_with("strict reverse-path filtering on lan0"));
        for (all, dev, mode) in [(Some(2), Some(0), "loose"), (Some(0), Some(0), "off")] {
            let f = judge_rp_filter("lan0", all, dev);
            assert_eq!(f.status, Status::Ok);
            assert!(f.text.contains(&format!("is {mode}")), "{}", f.text);
            assert!(f.text.contains("sysctl -w net.ipv4.conf.lan0.rp_filter=1"));
        }
        assert_eq!(judge_rp_filter("lan9", None, None).status, Status::Warning);
    }

    #[test]
    fn conntrack_fill_warns_from_the_threshold() {
        let f = judge_conntrack_load(Some((12, 65536)));
        assert_eq!(f.status, Status::Ok);
        assert_eq!(
            f.text,
            "the conntrack table holds 12 of 65536 entries (a warning from 90%)"
        );
        let f = judge_conntrack_load(Some((256, 256)));
        assert_eq!(f.status, Status::Warning);
        assert!(f.text.contains("raise net.netfilter.nf_conntrack_max"));
        assert_eq!(judge_conntrack_load(None).status, Status::Warning);
    }
}
