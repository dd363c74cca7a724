//! The timeouts a return path's state-keeping rules carry, so that pf
//! itself removes the states a server's answer created once its transfer
//! has gone quiet, instead of after its default UDP timeouts (up to 60 s
//! after the last packet).
//!
//! A state takes its timeouts from the rule that created it, a rule's
//! zero slot falling back to the default (`pf_state_expires()`,
//! sys/net/pf.c on OpenBSD, sys/netpfil/pf/pf.c on FreeBSD); a UDP state
//! moves between the first, single and multiple slots as its peers send
//! (pf_test_state() on OpenBSD), and every packet restarts its clock. So
//! a state whose three UDP slots hold the return path's idle limit
//! (`ReturnPath::idle_limit`: 6 s, or the retransmission timeout the
//! request asked for plus a second) lives exactly as long as its transfer
//! sends something at least that often: no live transfer is cut (its
//! peers retransmit within that timeout), and no state lives on for long
//! after the transfer.
//!
//! The same function shortens every timeout while the state table fills
//! (adaptive timeouts), scaled by the global state count unless the rule
//! sets `adaptive.start` itself, in which case by the rule's own count.
//! The limit scaled down would cut transfers that retransmit after a loss, so
//! the rules opt out: their own start is a count no rule of theirs ever
//! reaches (each holds one state, `once` or `max-states 1`).
//!
//! Pure code over a rule's `timeout` array, whose slot numbers each
//! kernel passes in from its own header (`enum pftimeout`); it owns the
//! values and their pf.conf text, and must not touch the kernel.
#![cfg_attr(
    not(any(target_os = "openbsd", target_os = "freebsd")),
    allow(dead_code)
)]

use std::time::Duration;

/// A kernel's slots in a rule's `timeout` array of the timeouts set here,
/// in [`NAMES`] order: `udp.first`, `udp.single`, `udp.multiple`,
/// `adaptive.start`, `adaptive.end`.
pub type Slots = [usize; 5];

/// pf.conf's names of the timeouts set, in [`Slots`] order.
const NAMES: [&str; 5] = [
    "udp.first",
    "udp.single",
    "udp.multiple",
    "adaptive.start",
    "adaptive.end",
];

/// The seconds each UDP timeout of a state-keeping return path rule is
/// set to for a path whose idle limit is `limit`: whole seconds, rounded
/// up (pf counts whole seconds), at least one (a zero slot would fall
/// back to the default).
pub fn seconds(limit: Duration) -> u32 {
    let whole = limit
        .as_secs()
        .saturating_add(u64::from(limit.subsec_nanos() > 0));
    u32::try_from(whole.max(1)).unwrap_or(u32::MAX - 2)
}

/// The values set, in [`Slots`] order: [`seconds`] for the three UDP
/// timeouts; for the adaptive ones, a start no rule's state count
/// reaches (pf scales only above it, and only if it is under the end).
fn values(limit: Duration) -> [u32; 5] {
    let udp = seconds(limit);
    [udp, udp, udp, u32::MAX - 1, u32::MAX]
}

/// Sets the slots of a rule's `timeouts` for a path whose idle limit is
/// `limit`; slots beyond the array (a header that has none) are left
/// alone.
pub fn set(timeouts: &mut [u32], slots: Slots, limit: Duration) {
    for (slot, value) in slots.into_iter().zip(values(limit)) {
        if let Some(timeout) = timeouts.get_mut(slot) {
            *timeout = value;
        }
    }
}

/// The rule's timeouts as pf.conf state options (`udp.first 6`, ...):
/// those of [`Slots`] by name, any other set slot by its number, as
/// pf.conf has no name for it here.
pub fn options(timeouts: &[u32], slots: Slots) -> Vec<String> {
    let named = slots
        .iter()
        .zip(NAMES)
        .filter_map(|(&slot, name)| match timeouts.get(slot) {
            Some(&value) if value != 0 => Some(format!("{name} {value}")),
            _ => None,
        });
    let others = timeouts
        .iter()
        .enumerate()
        .filter(|&(slot, &value)| value != 0 && !slots.contains(&slot))
        .map(|(slot, value)| format!("timeout #{slot} {value}"));
    named.chain(others).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::{state_idle_limit, STATE_IDLE_LIMIT};

    const SLOTS: Slots = [6, 7, 8, 16, 17];

    #[test]
    fn seconds_are_whole_and_never_zero() {
        assert_eq!(seconds(STATE_IDLE_LIMIT), 6);
        assert_eq!(
            seconds(state_idle_limit(Some(Duration::from_secs(255)))),
            256
        );
        assert_eq!(seconds(Duration::from_millis(6_200)), 7, "rounded up");
        assert_eq!(seconds(Duration::ZERO), 1, "zero is pf's default");
        assert!(
            seconds(Duration::MAX) < u32::MAX - 1,
            "under adaptive.start"
        );
    }

    #[test]
    fn the_udp_slots_get_the_idle_limit_and_scaling_is_off() {
        for (limit, udp) in [
            (STATE_IDLE_LIMIT, 6),
            (state_idle_limit(Some(Duration::from_secs(30))), 31),
        ] {
            udp_slots_get(limit, udp);
        }
    }

    /// [`set`] with `limit` writes `udp` into the UDP slots and turns
    /// adaptive scaling off, touching nothing else.
    fn udp_slots_get(limit: Duration, udp: u32) {
        let mut timeouts = [0u32; 20];
        set(&mut timeouts, SLOTS, limit);
        for (slot, &value) in timeouts.iter().enumerate() {
            let expected = match slot {
                6..=8 => udp,
                16 => u32::MAX - 1,
                17 => u32::MAX,
                _ => 0,
            };
            assert_eq!(value, expected, "slot {slot}");
        }
        // pf_state_expires() scales when `end && states > start && start
        // < end`: with the rule's own state count (one at most), never.
        let (start, end) = (timeouts[16], timeouts[17]);
        assert!(start < end && 1 <= start);
        // A header without those slots: nothing written, no panic.
        let mut short = [0u32; 4];
        set(&mut short, SLOTS, limit);
        assert_eq!(short, [0; 4]);
    }

    #[test]
    fn options_name_what_is_set() {
        let mut timeouts = [0u32; 20];
        assert!(options(&timeouts, SLOTS).is_empty());
        set(&mut timeouts, SLOTS, STATE_IDLE_LIMIT);
        assert_eq!(
            options(&timeouts, SLOTS),
            [
                "udp.first 6",
                "udp.single 6",
                "udp.multiple 6",
                "adaptive.start 4294967294",
                "adaptive.end 4294967295"
            ]
        );
        timeouts[15] = 10;
        assert_eq!(options(&timeouts, SLOTS)[5], "timeout #15 10");
    }
}
