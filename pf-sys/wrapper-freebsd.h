/*
 * What pf-sys binds for FreeBSD: <net/pfvar.h> (which includes
 * <netpfil/pf/pf.h>) and the headers it needs to parse, in the order
 * pfvar.h assumes.
 */
#include <sys/types.h>
#include <sys/param.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <net/if.h>
#include <netinet/in.h>
#include <net/pfvar.h>
/* The routing socket's messages (the helper's client check asks it). */
#include <net/if_dl.h>
#include <net/route.h>
/* pf's status, which FreeBSD 15 gives only over generic netlink. */
#include <netlink/netlink.h>
#include <netlink/netlink_generic.h>
#include <netpfil/pf/pf_nl.h>

/*
 * The ioctl request codes, evaluated by the C compiler from the header's
 * own _IOWR() macros. bindgen cannot expand function-like macros, so the
 * Rust side computes the codes itself and checks them against these.
 * DIOCGETSTATUS is absent: FreeBSD 15 removed it (pf's status is read
 * over netlink there).
 */
enum pf_sys_ioctl_codes {
	PF_SYS_DIOCADDRULE = DIOCADDRULE,
	PF_SYS_DIOCNATLOOK = DIOCNATLOOK,
	PF_SYS_DIOCBEGINADDRS = DIOCBEGINADDRS,
	PF_SYS_DIOCADDADDR = DIOCADDADDR,
	PF_SYS_DIOCGETRULESETS = DIOCGETRULESETS,
	PF_SYS_DIOCGETRULESET = DIOCGETRULESET,
	PF_SYS_DIOCXBEGIN = DIOCXBEGIN,
	PF_SYS_DIOCXCOMMIT = DIOCXCOMMIT,
	PF_SYS_DIOCGETRULES = DIOCGETRULES,
	PF_SYS_DIOCGETRULENV = DIOCGETRULENV,
	PF_SYS_DIOCGETSTATUSNV = DIOCGETSTATUSNV,
	PF_SYS_DIOCKILLSTATESNV = DIOCKILLSTATESNV
};

/*
 * The release the headers are from: __FreeBSD_version where the headers
 * or the compiler define it (zig's clang does), else the major release
 * clang's target triple gives.
 */
#ifdef __FreeBSD_version
#define PF_SYS_FREEBSD_VERSION_VALUE __FreeBSD_version
#else
#define PF_SYS_FREEBSD_VERSION_VALUE (__FreeBSD__ * 100000)
#endif
enum pf_sys_freebsd_version {
	PF_SYS_FREEBSD_VERSION = PF_SYS_FREEBSD_VERSION_VALUE
};
