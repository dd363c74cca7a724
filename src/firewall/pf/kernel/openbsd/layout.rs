//! The sizes and ioctl codes OpenBSD/amd64 has for the structures this
//! backend passes, by `<net/pfvar.h>` revision, checked against the types
//! pf-sys generated ([`PFVAR_REVISION`] names the header it read).
//!
//! Only `struct pf_rule` (inside `pfioc_rule`) differs between the
//! releases people run: revision 1.546 added the `statelim` and
//! `sourcelim` members (net/pfvar.h), so OpenBSD 7.9 (1.548) has a
//! 1360-byte pf_rule where 7.6 to 7.8 (1.539 to 1.543; the struct is the
//! same from 1.538 to 1.543) have 1344. Everything else here
//! (pfioc_natlook, pfioc_trans, pfioc_trans_e, pfioc_ruleset) is the same
//! in all of them. A header outside the known ranges fails the test by
//! name: its layout has not been checked.
//!
//! Test-only; it owns these expectations and nothing else.

use super::rule::{DIOCGETRULE, DIOCGETRULES, DIOCXEND};
use pf_sys::openbsd::{
    pf_rule, pfioc_natlook, pfioc_rule, pfioc_ruleset, pfioc_trans, pfioc_trans_e, DIOCADDRULE,
    DIOCGETRULESET, DIOCGETRULESETS, DIOCNATLOOK, DIOCXBEGIN, DIOCXCOMMIT, PFVAR_REVISION,
};
use std::mem::size_of;
use std::os::raw::c_ulong;

/// What one range of pfvar.h revisions has on amd64 for `struct pf_rule`.
#[derive(Debug)]
struct RuleLayout {
    /// First and last `1.<minor>` revision of the range, inclusive.
    minors: (u32, u32),
    /// The OpenBSD releases shipping a header of the range.
    releases: &'static str,
    pf_rule: usize,
    pfioc_rule: usize,
    /// `_IOWR('D', 4, struct pfioc_rule)`.
    add_rule: c_ulong,
}

const RULE_LAYOUTS: [RuleLayout; 2] = [
    RuleLayout {
        minors: (538, 543),
        releases: "7.6, 7.7, 7.8",
        pf_rule: 1344,
        pfioc_rule: 3408,
        add_rule: 0xcd50_4404,
    },
    RuleLayout {
        minors: (546, 548),
        releases: "7.9",
        pf_rule: 1360,
        pfioc_rule: 3424,
        add_rule: 0xcd60_4404,
    },
];

/// The layout recorded for `revision` ("1.548"), if any.
fn rule_layout(revision: &str) -> Option<&'static RuleLayout> {
    let minor: u32 = revision.strip_prefix("1.")?.parse().ok()?;
    RULE_LAYOUTS
        .iter()
        .find(|l| (l.minors.0..=l.minors.1).contains(&minor))
}

#[test]
fn pf_rule_has_the_layout_of_its_release() {
    // scripts/check-openbsd names the header it means each run to test.
    if let Ok(expected) = std::env::var("PF_SYS_EXPECT_REVISION") {
        assert_eq!(
            PFVAR_REVISION, expected,
            "the bindings were built from another pfvar.h"
        );
    }
    let layout = rule_layout(PFVAR_REVISION).unwrap_or_else(|| {
        panic!(
            "no amd64 layout recorded for pfvar.h {PFVAR_REVISION}: \
             check its struct pf_rule and add it to RULE_LAYOUTS"
        )
    });
    let what = format!("pfvar.h {PFVAR_REVISION} (OpenBSD {})", layout.releases);
    assert_eq!(size_of::<pf_rule>(), layout.pf_rule, "{what}");
    assert_eq!(size_of::<pfioc_rule>(), layout.pfioc_rule, "{what}");
    assert_eq!(DIOCADDRULE, layout.add_rule, "{what}");
    // DIOCGETRULES and DIOCGETRULE carry the same structure.
    assert_eq!(DIOCGETRULES, layout.add_rule + 2, "{what}");
    assert_eq!(DIOCGETRULE, layout.add_rule + 3, "{what}");
}

#[test]
fn the_other_structures_are_the_same_in_every_release() {
    assert_eq!(size_of::<pfioc_natlook>(), 80);
    assert_eq!(size_of::<pfioc_trans>(), 16);
    assert_eq!(size_of::<pfioc_trans_e>(), 1032);
    assert_eq!(size_of::<pfioc_ruleset>(), 1092);
    assert_eq!(DIOCNATLOOK, 0xc050_4417);
    assert_eq!(DIOCGETRULESETS, 0xc444_443a);
    assert_eq!(DIOCGETRULESET, 0xc444_443b);
    assert_eq!(DIOCXBEGIN, 0xc010_4451);
    assert_eq!(DIOCXCOMMIT, 0xc010_4452);
    // _IOWR('D', 100, u_int32_t)
    assert_eq!(DIOCXEND, 0xc004_4464);
}

#[test]
fn the_known_ranges_do_not_overlap_and_unknown_revisions_have_none() {
    assert!(RULE_LAYOUTS[0].minors.1 < RULE_LAYOUTS[1].minors.0);
    assert_eq!(rule_layout("1.543").map(|l| l.pf_rule), Some(1344));
    assert_eq!(rule_layout("1.548").map(|l| l.pf_rule), Some(1360));
    for unknown in ["1.544", "1.549", "1.537", "2.1", "unknown", ""] {
        assert!(rule_layout(unknown).is_none(), "{unknown}");
    }
}
