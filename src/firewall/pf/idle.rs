//! The idle timeout a return path's state-keeping rules carry, so that pf
//! itself removes the state a server's answer created once its transfer
//! has gone quiet, instead of after its default UDP timeouts (up to 60 s
//! after the last packet).
//!
//! A state takes its timeouts from the rule that created it, a rule's
//! zero slot falling back to the default (`pf_state_expires()`,
//! sys/net/pf.c on OpenBSD, sys/netpfil/pf/pf.c on FreeBSD); a UDP state
//! moves between the first, single and multiple slots as its peers send
//! (pf_test_state() on OpenBSD), and every packet restarts its clock. So
//! a state whose three UDP slots hold [`STATE_IDLE_LIMIT`] lives exactly
//! as long as its transfer sends something at least that often: no live
//! transfer is cut (its peers retransmit within 5 s), and no state lives
//! on for long after the transfer.
//!
//! Pure code over a rule's `timeout` array, whose slot numbers each
//! kernel passes in from its own header (`enum pftimeout`); it owns the
//! value and its pf.conf text, and must not touch the kernel.
#![cfg_attr(
    not(any(target_os = "openbsd", target_os = "freebsd")),
    allow(dead_code)
)]

use crate::firewall::STATE_IDLE_LIMIT;

/// A kernel's slots of the three UDP state timeouts in a rule's
/// `timeout` array, in pf.conf's order: `udp.first`, `udp.single`,
/// `udp.multiple`.
pub type UdpSlots = [usize; 3];

/// pf.conf's names of the three UDP state timeouts, in [`UdpSlots`] order.
const NAMES: [&str; 3] = ["udp.first", "udp.single", "udp.multiple"];

/// The seconds each UDP timeout of a state-keeping return path rule is
/// set to.
pub fn seconds() -> u32 {
    u32::try_from(STATE_IDLE_LIMIT.as_secs()).unwrap_or(u32::MAX)
}

/// Sets the three UDP slots of a rule's `timeouts` to [`seconds`]; slots
/// beyond the array (a header that has none) are left alone.
pub fn set(timeouts: &mut [u32], slots: UdpSlots) {
    for slot in slots {
        if let Some(timeout) = timeouts.get_mut(slot) {
            *timeout = seconds();
        }
    }
}

/// The rule's timeouts as pf.conf state options (`udp.first 6`, ...):
/// the three UDP ones by name, any other set slot by its number, as pf.conf
/// has no name for it here.
pub fn options(timeouts: &[u32], slots: UdpSlots) -> Vec<String> {
    let named = slots
        .iter()
        .zip(NAMES)
        .filter_map(|(&slot, name)| match timeouts.get(slot) {
            Some(&seconds) if seconds != 0 => Some(format!("{name} {seconds}")),
            _ => None,
        });
    let others = timeouts
        .iter()
        .enumerate()
        .filter(|&(slot, &seconds)| seconds != 0 && !slots.contains(&slot))
        .map(|(slot, seconds)| format!("timeout #{slot} {seconds}"));
    named.chain(others).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOTS: UdpSlots = [6, 7, 8];

    #[test]
    fn the_three_udp_slots_get_the_idle_limit() {
        assert_eq!(seconds(), 6, "STATE_IDLE_LIMIT");
        let mut timeouts = [0u32; 20];
        set(&mut timeouts, SLOTS);
        for (slot, &value) in timeouts.iter().enumerate() {
            let expected = if SLOTS.contains(&slot) { 6 } else { 0 };
            assert_eq!(value, expected, "slot {slot}");
        }
        // A header without those slots: nothing written, no panic.
        let mut short = [0u32; 4];
        set(&mut short, SLOTS);
        assert_eq!(short, [0; 4]);
    }

    #[test]
    fn options_name_what_is_set() {
        let mut timeouts = [0u32; 20];
        assert!(options(&timeouts, SLOTS).is_empty());
        set(&mut timeouts, SLOTS);
        assert_eq!(
            options(&timeouts, SLOTS),
            ["udp.first 6", "udp.single 6", "udp.multiple 6"]
        );
        timeouts[15] = 10;
        assert_eq!(options(&timeouts, SLOTS)[3], "timeout #15 10");
    }
}
