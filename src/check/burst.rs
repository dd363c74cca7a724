//! The arithmetic of a boot storm's first burst: how much receive space
//! the listening socket needs so that the first request of every phone,
//! arriving at once, is still queued when the helper starts reading.
//!
//! That burst lands before the helper runs (inetd is still starting it),
//! into the buffer the socket was created with: the system's default UDP
//! receive space, not the size the helper asks for once it runs. So the
//! default has to be sized for it, by sysctl (`net.inet.udp.recvspace` on
//! the BSDs, `net.core.rmem_default` on Linux); `--check` compares the
//! current value with [`bsd_receive_space`] / [`linux_receive_space`].
//!
//! Pure code; the kernel facts it relies on are cited where used.

use super::Finding;

/// The largest request the helper forwards whole (RFC 1350's 512-byte
/// packet; a phone's request is usually under 100 bytes).
pub const LARGEST_REQUEST: usize = 512;

/// The phones whose first requests `--check` wants to fit (a site's boot
/// storm; the shipped configuration is sized for it).
pub const PHONES_TO_FIT: usize = 200;

/// What one queued IPv4 datagram adds to a BSD socket buffer's byte count
/// besides its data: its source address (a 16-byte `sockaddr_in`) and the
/// two control messages the helper turns on (IP_RECVDSTADDR, 16 bytes
/// with its header; IP_RECVDSTPORT, 16). sbappendaddr() counts all three
/// into `sb_cc` (kern/uipc_socket2.c); IPv6's are larger (a 28-byte
/// address, 36 + 16 of control), so the IPv6 figure is used.
const BSD_ADDRESS_AND_CONTROL: usize = 28 + 36 + 16;

/// What one queued datagram costs in mbuf memory on a BSD (`sb_mbcnt`):
/// an mbuf (MSIZE, 256 bytes) each for the address, the two control
/// messages and the packet header, and the 2 KiB cluster most network
/// drivers receive into (MCLBYTES).
const BSD_MBUF_CHARGE: usize = 4 * 256 + 2048;

/// A BSD socket buffer may hold mbufs worth eight times its byte limit:
/// `sb_mbmax = max(3 * MAXMCLBYTES, cc * 8)` in sbreserve()
/// (OpenBSD kern/uipc_socket2.c; FreeBSD's `sb_efficiency` is 8 too).
const BSD_MBUF_FACTOR: usize = 8;

/// What one queued small datagram costs a Linux socket (`skb->truesize`,
/// counted against `sk_rcvbuf`): the data in a 2 KiB buffer or page
/// fragment, plus `struct sk_buff` and `struct skb_shared_info`.
pub const LINUX_DATAGRAM_CHARGE: usize = 2048 + 256 + 320;

/// The boot storm the shipped Linux configuration is sized for
/// (`etc/sysctl.d/60-tftp-proxy.conf`, `ReceiveBuffer=` in
/// `etc/tftp-proxy.socket`): a site of a thousand phones after a power cut.
pub const STORM_PHONES: usize = 1000;

/// The receive space (`net.inet.udp.recvspace`, bytes) a BSD socket needs
/// to hold the first requests of `phones` phones at once: the larger of
/// the byte count (`sb_hiwat`, data plus address and control) and the
/// mbuf count (`sb_mbmax`, a multiple of it), as sbspace() takes the
/// smaller room of the two (sys/socketvar.h).
pub fn bsd_receive_space(phones: usize) -> usize {
    let by_bytes = LARGEST_REQUEST + BSD_ADDRESS_AND_CONTROL;
    let by_mbufs = BSD_MBUF_CHARGE.div_ceil(BSD_MBUF_FACTOR);
    phones.saturating_mul(by_bytes.max(by_mbufs))
}

/// The receive buffer (`net.core.rmem_default`, bytes) a Linux socket
/// needs to hold the first requests of `phones` phones at once: each
/// datagram's truesize against `sk_rcvbuf` (udp_rmem_schedule() and
/// __udp_enqueue_schedule_skb() in net/ipv4/udp.c).
pub fn linux_receive_space(phones: usize) -> usize {
    phones.saturating_mul(LINUX_DATAGRAM_CHARGE)
}

/// How many phones' first requests fit in a Linux `sk_rcvbuf` of `bytes`.
pub fn linux_phones_that_fit(bytes: usize) -> usize {
    bytes / linux_receive_space(1)
}

/// What to ask `SO_RCVBUF` (or systemd's `ReceiveBuffer=`) for to get an
/// `sk_rcvbuf` of `bytes`: the kernel doubles the value asked for, to
/// leave room for its bookkeeping (sk_setsockopt(), net/core/sock.c). The
/// `net.core.rmem_default` sysctl is used as it is (sock_init_data()).
pub fn linux_socket_option_for(bytes: usize) -> usize {
    bytes.div_ceil(2)
}

/// `--check`'s finding on the receive buffer a new socket of the starter
/// gets: `source` names where the size comes from, `bytes` is that size,
/// `phones` how many phones' first requests it holds, and `fix` how to
/// make room for [`STORM_PHONES`].
pub fn judge(source: &str, bytes: usize, phones: usize, fix: &str) -> Finding {
    if phones >= STORM_PHONES {
        Finding::ok(format!(
            "{source} gives the socket {bytes} bytes of receive buffer: room for the first requests of {phones} phones booting at once"
        ))
    } else {
        Finding::warning(format!(
            "{source} gives the socket {bytes} bytes of receive buffer: room for the first requests of only {phones} phones booting at once (after a power cut the rest are dropped before the helper has started and enlarged it, and those phones retry seconds later); for {STORM_PHONES}: {fix}"
        ))
    }
}

/// The UDP receive space the shipped BSD configuration sets
/// (`net.inet.udp.recvspace=524288` in sysctl.conf): the first requests
/// of 885 phones at the largest request size, of several thousand at a
/// phone's usual size; under the kernels' 2 MiB cap (`SB_MAX`).
pub const SHIPPED_BSD_RECEIVE_SPACE: usize = 524_288;

/// How many phones' first requests fit in `bytes` of BSD receive space.
pub fn bsd_phones_that_fit(bytes: usize) -> usize {
    bytes / bsd_receive_space(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bsd_space_is_the_byte_count_for_the_largest_request() {
        // 512 + 80 = 592 bytes a request beats 3072 / 8 = 384 of mbufs.
        assert_eq!(bsd_receive_space(1), 592);
        assert_eq!(bsd_receive_space(PHONES_TO_FIT), 118_400);
        assert_eq!(bsd_receive_space(1000), 592_000);
    }

    #[test]
    fn openbsd_default_holds_far_fewer_than_a_storm() {
        // OpenBSD's udp_recvspace: 40 * (1024 + sizeof(struct sockaddr_in)).
        let default = 40 * (1024 + 16);
        assert_eq!(default, 41_600);
        assert_eq!(bsd_phones_that_fit(default), 70);
        assert!(bsd_phones_that_fit(default) < PHONES_TO_FIT);
        assert!(bsd_phones_that_fit(bsd_receive_space(PHONES_TO_FIT)) >= PHONES_TO_FIT);
        // The shipped value (524288) fits a 500-phone burst with room.
        assert_eq!(bsd_phones_that_fit(SHIPPED_BSD_RECEIVE_SPACE), 885);
    }

    #[test]
    fn linux_space_counts_truesize() {
        assert_eq!(linux_receive_space(1), 2624);
        assert_eq!(linux_receive_space(PHONES_TO_FIT), 524_800);
        assert_eq!(linux_receive_space(0), 0);
    }

    #[test]
    fn linux_storm_and_the_default_buffer() {
        assert_eq!(linux_receive_space(STORM_PHONES), 2_624_000);
        // Debian's net.core.rmem_default.
        assert_eq!(linux_phones_that_fit(212_992), 81);
        assert_eq!(linux_phones_that_fit(2_624_000), STORM_PHONES);
        assert_eq!(linux_phones_that_fit(2_623_999), STORM_PHONES - 1);
        assert_eq!(linux_socket_option_for(2_624_000), 1_312_000);
        assert_eq!(linux_socket_option_for(5), 3);
    }

    #[test]
    fn shipped_sysctl_holds_a_storm() {
        let shipped = include_str!("../../etc/sysctl.d/60-tftp-proxy.conf");
        let value: usize = shipped
            .lines()
            .find_map(|l| l.strip_prefix("net.core.rmem_default = "))
            .expect("net.core.rmem_default in etc/sysctl.d/60-tftp-proxy.conf")
            .parse()
            .expect("a number");
        assert_eq!(value, linux_receive_space(STORM_PHONES));
    }

    #[test]
    fn judged_ok_from_a_storm_up_warning_below() {
        use crate::check::Status;
        let ok = judge("x", 9, STORM_PHONES, "fix it");
        assert_eq!(ok.status, Status::Ok);
        assert!(ok.text.contains("9 bytes"), "{}", ok.text);
        let low = judge("net.core.rmem_default", 212_992, 81, "raise it");
        assert_eq!(low.status, Status::Warning);
        assert!(low.text.contains("only 81 phones"), "{}", low.text);
        assert!(low.text.ends_with("for 1000: raise it"), "{}", low.text);
    }
}
