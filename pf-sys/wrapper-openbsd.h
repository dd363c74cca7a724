/*
 * What pf-sys binds: <net/pfvar.h> and the headers it needs to parse.
 * The order matters: pfvar.h assumes these were included before it.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <net/if.h>
#include <netinet/in.h>
#include <net/pfvar.h>
/* The routing socket's messages (the helper's client check asks it). */
#include <net/if_dl.h>
#include <net/route.h>

/*
 * The ioctl request codes, evaluated by the C compiler from the header's
 * own _IOWR() macros. bindgen cannot expand function-like macros, so the
 * Rust side computes the codes itself and checks them against these.
 */
enum pf_sys_ioctl_codes {
	PF_SYS_DIOCADDRULE = DIOCADDRULE,
	PF_SYS_DIOCGETSTATUS = DIOCGETSTATUS,
	PF_SYS_DIOCNATLOOK = DIOCNATLOOK,
	PF_SYS_DIOCGETRULESETS = DIOCGETRULESETS,
	PF_SYS_DIOCGETRULESET = DIOCGETRULESET,
	PF_SYS_DIOCXBEGIN = DIOCXBEGIN,
	PF_SYS_DIOCXCOMMIT = DIOCXCOMMIT
};
