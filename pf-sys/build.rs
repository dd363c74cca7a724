//! Generates the bindings of pf's `<net/pfvar.h>` (and of the routing
//! socket's `<net/route.h>` and `<net/if_dl.h>`), once per kernel: the
//! target's kernel when the target is OpenBSD or FreeBSD, both kernels on
//! any other host (for the tests of the encodings).
//!
//! Where a kernel's headers come from, in order:
//! 1. `PF_SYS_SYSROOT` (the target's kernel; OpenBSD on other hosts): a
//!    sysroot (holding `usr/include`), an include directory (holding
//!    `net/pfvar.h`), or an unpacked `ziglang` package directory.
//! 2. Building on the BSD for the same target: `/usr/include`.
//! 3. Otherwise (cross builds, host tests): the OpenBSD and FreeBSD
//!    headers that ship in the `ziglang` package on PyPI
//!    (`pip install ziglang`).
//!
//! Unless the system headers are used, clang parses them as the BSD target
//! would (`--target=<arch>-unknown-<os> -nostdinc -isystem ...`), so the
//! layout is the BSD's whatever the build host is.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The header this crate binds, relative to an include directory.
const PFVAR: &str = "net/pfvar.h";

/// What differs between the kernels whose headers are bound.
struct Kernel {
    /// The `target_os` name, the module name and the ziglang directory
    /// suffix (`generic-<os>`, `<arch>-<os>-...`).
    os: &'static str,
    /// The C file naming what to parse.
    wrapper: &'static str,
    /// The clang target triple after the CPU, e.g. `unknown-openbsd`.
    triple: &'static str,
    /// CPUs with headers in the ziglang package.
    arches: &'static [&'static str],
    /// The structures the helper passes.
    types: &'static [&'static str],
    /// The constants that fill them.
    constants: &'static [&'static str],
}

/// Kernel objects a rule only points to: their insides do not matter to
/// userland, so they stay out of the bindings.
const OPAQUE: [&str; 4] = ["pfi_kif", "pf_anchor", "pfr_ktable", "pfi_dynaddr"];

const OPENBSD: Kernel = Kernel {
    os: "openbsd",
    wrapper: "wrapper-openbsd.h",
    triple: "unknown-openbsd",
    arches: &[
        "x86_64",
        "x86",
        "aarch64",
        "arm",
        "mips64",
        "powerpc",
        "powerpc64",
        "riscv64",
        "sparc64",
    ],
    types: &[
        "pfioc_natlook",
        "pfioc_rule",
        "pfioc_trans",
        "pfioc_trans_pfioc_trans_e",
        "pfioc_ruleset",
        "pf_status",
        "pf_sys_ioctl_codes",
        "rt_msghdr",
        "sockaddr_dl",
        "sockaddr_in",
        "sockaddr_in6",
    ],
    constants: &[
        "PF_IN",
        "PF_OUT",
        "PF_PASS",
        "PF_DROP",
        "PF_MATCH",
        "PF_TRANS_RULESET",
        "PF_OP_NONE",
        "PF_OP_EQ",
        "PF_ADDR_ADDRMASK",
        "PF_ADDR_NONE",
        "PF_STATE_NORMAL",
        "PF_LOG",
        "PFRULE_ONCE",
        "PFTM_UDP_FIRST_PACKET",
        "PFTM_UDP_SINGLE",
        "PFTM_UDP_MULTIPLE",
        "PFTM_ADAPTIVE_START",
        "PFTM_ADAPTIVE_END",
        "PF_ANCHOR_NAME_SIZE",
        "AF_INET",
        "AF_INET6",
        "IPPROTO_UDP",
        "IPPROTO_TCP",
        "AF_LINK",
        "AF_ROUTE",
        "RTM_VERSION",
        "RTM_GET",
        "RTA_DST",
        "RTA_IFP",
        "RTF_UP",
        "RTF_REJECT",
        "RTF_BLACKHOLE",
        "RTF_LOCAL",
        "RTF_BROADCAST",
        "RTF_MULTICAST",
        "ROUTE_MSGFILTER",
    ],
};

const FREEBSD: Kernel = Kernel {
    os: "freebsd",
    wrapper: "wrapper-freebsd.h",
    // The release whose headers ziglang ships; the structures the helper
    // uses are the same on 13.x to 15.x.
    triple: "unknown-freebsd15.0",
    arches: &["x86_64", "x86", "aarch64", "arm", "powerpc64", "riscv64"],
    types: &[
        "pfioc_natlook",
        "pfioc_rule",
        "pfioc_trans",
        "pfioc_trans_pfioc_trans_e",
        "pfioc_ruleset",
        "pfioc_pooladdr",
        "pfioc_nv",
        "pf_sys_ioctl_codes",
        "pf_sys_freebsd_version",
        "nlmsghdr",
        "genlmsghdr",
        "nlattr",
        "pf_get_status_types_t",
        "pf_clear_states_type_t",
        "pfrule_addr_type_t",
        "pf_addr_type_t",
        "rt_msghdr",
        "sockaddr_dl",
        "sockaddr_in",
        "sockaddr_in6",
    ],
    constants: &[
        "PF_IN",
        "PF_OUT",
        "PF_PASS",
        "PF_DROP",
        "PF_RDR",
        "PF_RULESET_FILTER",
        "PF_RULESET_RDR",
        "PF_OP_NONE",
        "PF_OP_EQ",
        "PF_ADDR_ADDRMASK",
        "PF_POOL_NONE",
        "PF_POOL_TYPEMASK",
        "PF_CHANGE_NONE",
        "PF_STATE_NORMAL",
        "PF_LOG",
        "PFTM_UDP_FIRST_PACKET",
        "PFTM_UDP_SINGLE",
        "PFTM_UDP_MULTIPLE",
        "PFTM_ADAPTIVE_START",
        "PFTM_ADAPTIVE_END",
        "PF_ANCHOR_NAME_SIZE",
        "AF_INET",
        "AF_INET6",
        "IPPROTO_UDP",
        "IPPROTO_TCP",
        "AF_NETLINK",
        "NETLINK_GENERIC",
        "NLM_F_REQUEST",
        "NLMSG_ERROR",
        "NLMSG_DONE",
        "GENL_ID_CTRL",
        "CTRL_CMD_GETFAMILY",
        "CTRL_ATTR_FAMILY_ID",
        "CTRL_ATTR_FAMILY_NAME",
        "PFNL_FAMILY_NAME",
        "PFNL_CMD_GET_STATUS",
        "PFNL_CMD_KILLSTATES",
        "PF_GS_RUNNING",
        "AF_LINK",
        "AF_ROUTE",
        "RTM_VERSION",
        "RTM_GET",
        "RTA_DST",
        "RTA_IFP",
        "RTF_UP",
        "RTF_REJECT",
        "RTF_BLACKHOLE",
        "RTF_LOCAL",
        "RTF_BROADCAST",
        "RTF_MULTICAST",
    ],
};

/// How clang is told where a kernel's headers are.
struct Headers {
    /// Arguments for clang.
    clang_args: Vec<String>,
    /// The include directory holding `net/pfvar.h`.
    pfvar_dir: PathBuf,
    /// Human-readable origin, for the build log.
    origin: String,
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PF_SYS_SYSROOT");

    let target = env::var("TARGET").expect("cargo sets TARGET");
    let host = env::var("HOST").expect("cargo sets HOST");
    let target_os = env::var("CARGO_CFG_TARGET_OS").expect("cargo sets CARGO_CFG_TARGET_OS");
    let target_arch = env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets CARGO_CFG_TARGET_ARCH");
    let little_endian = env::var("CARGO_CFG_TARGET_ENDIAN").as_deref() == Ok("little");

    let kernels: &[&Kernel] = match target_os.as_str() {
        "openbsd" => &[&OPENBSD],
        "freebsd" => &[&FREEBSD],
        _ => &[&OPENBSD, &FREEBSD],
    };
    // PF_SYS_SYSROOT names the target's headers; on other hosts, OpenBSD's.
    let sysroot_kernel = if target_os == "freebsd" {
        "freebsd"
    } else {
        "openbsd"
    };
    for kernel in kernels {
        let native = target_os == kernel.os && cfg_os() == kernel.os && target == host;
        let arch = bsd_arch(kernel, &target_os, &target_arch);
        let sysroot = env::var_os("PF_SYS_SYSROOT").filter(|_| kernel.os == sysroot_kernel);
        let headers = match sysroot {
            Some(root) => from_sysroot_var(kernel, Path::new(&root), arch, little_endian),
            None if native => Ok(system_headers()),
            None => from_ziglang(kernel, arch, little_endian),
        }
        .unwrap_or_else(|message| fail(&message));
        generate_kernel(kernel, &headers);
    }
}

/// The operating system this build script runs on.
fn cfg_os() -> &'static str {
    if cfg!(target_os = "openbsd") {
        "openbsd"
    } else if cfg!(target_os = "freebsd") {
        "freebsd"
    } else {
        "other"
    }
}

/// Writes `<os>.rs` into OUT_DIR and records the headers' version.
fn generate_kernel(kernel: &Kernel, headers: &Headers) {
    println!("cargo:rerun-if-changed={}", kernel.wrapper);
    println!(
        "cargo:rerun-if-changed={}",
        headers.pfvar_dir.join(PFVAR).display()
    );
    // Shown with `cargo build -vv`; a warning would be noise in every build.
    println!("pf-sys: {} headers from {}", kernel.os, headers.origin);

    if kernel.os == "openbsd" {
        let revision = pfvar_revision(&headers.pfvar_dir.join(PFVAR));
        println!("cargo:rustc-env=PF_SYS_PFVAR_REVISION={revision}");
    }

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    generate(kernel, &headers.clang_args)
        .write_to_file(out.join(format!("{}.rs", kernel.os)))
        .unwrap_or_else(|e| fail(&format!("cannot write the {} bindings: {e}", kernel.os)));
}

/// Stops the build with one clear message.
fn fail(message: &str) -> ! {
    eprintln!("error: pf-sys: {message}");
    std::process::exit(1);
}

/// The BSD architecture whose headers are parsed: the target's own when
/// the target is that BSD; otherwise the host-like one for tests.
fn bsd_arch(kernel: &Kernel, target_os: &str, target_arch: &str) -> &'static str {
    match kernel.arches.iter().find(|&&arch| arch == target_arch) {
        Some(arch) => arch,
        None if target_os == kernel.os => fail(&format!(
            "no known {} headers for architecture {target_arch}",
            kernel.os
        )),
        None => {
            println!(
                "cargo:warning=pf-sys: parsing the x86_64 {} headers for a {target_arch} \
                 host; the layout tests tell whether the types fit this host",
                kernel.os
            );
            "x86_64"
        }
    }
}

/// The clang target triple for a BSD architecture.
fn clang_triple(kernel: &Kernel, arch: &str, little_endian: bool) -> String {
    let cpu = match arch {
        "x86" => "i386",
        "mips64" if little_endian => "mips64el",
        other => other,
    };
    format!("{cpu}-{}", kernel.triple)
}

/// Headers of the machine itself (building on the BSD for that BSD).
fn system_headers() -> Headers {
    Headers {
        clang_args: Vec::new(),
        pfvar_dir: PathBuf::from("/usr/include"),
        origin: "/usr/include".to_owned(),
    }
}

/// Interprets `PF_SYS_SYSROOT`.
fn from_sysroot_var(
    kernel: &Kernel,
    root: &Path,
    arch: &str,
    little_endian: bool,
) -> Result<Headers, String> {
    let triple = clang_triple(kernel, arch, little_endian);
    if root.join("usr/include").join(PFVAR).is_file() {
        let include = root.join("usr/include");
        return Ok(Headers {
            clang_args: vec![
                format!("--target={triple}"),
                format!("--sysroot={}", root.display()),
                "-nostdinc".to_owned(),
                "-isystem".to_owned(),
                include.display().to_string(),
            ],
            pfvar_dir: include,
            origin: format!("sysroot {} (PF_SYS_SYSROOT)", root.display()),
        });
    }
    if root.join(PFVAR).is_file() {
        return Ok(Headers {
            clang_args: vec![
                format!("--target={triple}"),
                "-nostdinc".to_owned(),
                "-isystem".to_owned(),
                root.display().to_string(),
            ],
            pfvar_dir: root.to_path_buf(),
            origin: format!("include directory {} (PF_SYS_SYSROOT)", root.display()),
        });
    }
    let generic = format!("lib/libc/include/generic-{}", kernel.os);
    if root.join(&generic).join(PFVAR).is_file() {
        return zig_headers(kernel, root, arch, little_endian);
    }
    Err(format!(
        "PF_SYS_SYSROOT={} holds neither usr/include/{PFVAR}, {PFVAR}, nor a ziglang \
         package ({generic}/{PFVAR})",
        root.display()
    ))
}

/// Finds the `ziglang` Python package and a kernel's headers in it.
fn from_ziglang(kernel: &Kernel, arch: &str, little_endian: bool) -> Result<Headers, String> {
    let probe = "import ziglang, os; print(os.path.dirname(ziglang.__file__))";
    let mut last_error = String::new();
    for python in ["python3", "python"] {
        match Command::new(python).args(["-c", probe]).output() {
            Ok(out) if out.status.success() => {
                let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                return zig_headers(kernel, Path::new(&dir), arch, little_endian);
            }
            Ok(out) => last_error = String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            Err(e) => last_error = format!("{python}: {e}"),
        }
    }
    Err(format!(
        "no {} headers found: install ziglang from PyPI (pip install ziglang) \
         or set PF_SYS_SYSROOT to a sysroot or include directory \
         (python said: {last_error})",
        kernel.os
    ))
}

/// The include directories inside a ziglang package for one architecture.
fn zig_headers(
    kernel: &Kernel,
    zig: &Path,
    arch: &str,
    little_endian: bool,
) -> Result<Headers, String> {
    let libc_include = zig.join("lib/libc/include");
    let generic = libc_include.join(format!("generic-{}", kernel.os));
    if !generic.join(PFVAR).is_file() {
        return Err(format!(
            "the ziglang package at {} has no {PFVAR} under lib/libc/include/generic-{}: \
             install a ziglang from PyPI that ships {} headers or set PF_SYS_SYSROOT",
            zig.display(),
            kernel.os,
            kernel.os
        ));
    }
    let dir_arch = match arch {
        "mips64" if little_endian => "mips64el",
        other => other,
    };
    let prefix = format!("{dir_arch}-{}", kernel.os);
    let machine = fs::read_dir(&libc_include)
        .map_err(|e| format!("cannot list {}: {e}", libc_include.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(&prefix))
        })
        .ok_or_else(|| {
            format!(
                "the ziglang package at {} has no {} headers for {arch}",
                zig.display(),
                kernel.os
            )
        })?;
    let builtin = zig.join("lib/include");
    let mut clang_args = vec![
        format!("--target={}", clang_triple(kernel, arch, little_endian)),
        "-nostdinc".to_owned(),
    ];
    for dir in [&machine, &generic, &builtin] {
        clang_args.push("-isystem".to_owned());
        clang_args.push(dir.display().to_string());
    }
    Ok(Headers {
        clang_args,
        pfvar_dir: generic,
        origin: format!("ziglang package {}", zig.display()),
    })
}

/// The revision in OpenBSD's `$OpenBSD: pfvar.h,v 1.548 ...` line.
fn pfvar_revision(pfvar: &Path) -> String {
    let text = fs::read_to_string(pfvar)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", pfvar.display())));
    text.lines()
        .take(5)
        .find_map(|line| {
            let rest = &line[line.find("$OpenBSD: pfvar.h,v ")? + "$OpenBSD: pfvar.h,v ".len()..];
            rest.split_whitespace().next().map(str::to_owned)
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Tells bindgen what the hand-written replacements in addr.rs derive, so
/// the structures embedding them still derive `Copy`, `Clone`, `Default`.
#[derive(Debug)]
struct HandWritten;

impl bindgen::callbacks::ParseCallbacks for HandWritten {
    fn blocklisted_type_implements_trait(
        &self,
        name: &str,
        derive_trait: bindgen::callbacks::DeriveTrait,
    ) -> Option<bindgen::callbacks::ImplementsTrait> {
        use bindgen::callbacks::{DeriveTrait, ImplementsTrait};
        // bindgen names C structs with their tag, e.g. "struct pf_addr".
        let name = name.strip_prefix("struct ").unwrap_or(name);
        let hand_written = name == "pf_addr" || name == "pf_addr_wrap";
        match derive_trait {
            DeriveTrait::Copy | DeriveTrait::Default | DeriveTrait::Debug if hand_written => {
                Some(ImplementsTrait::Yes)
            }
            _ if hand_written => Some(ImplementsTrait::No),
            _ => None,
        }
    }
}

/// Runs bindgen over the kernel's wrapper, keeping only what the helper
/// uses.
fn generate(kernel: &Kernel, clang_args: &[String]) -> bindgen::Bindings {
    let mut builder = bindgen::Builder::default()
        .header(kernel.wrapper)
        .clang_args(clang_args)
        .formatter(bindgen::Formatter::None)
        .generate_comments(false)
        .layout_tests(true)
        .derive_default(true)
        .derive_debug(false)
        .prepend_enum_name(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .parse_callbacks(Box::new(HandWritten));
    for name in kernel.types {
        builder = builder.allowlist_type(name);
    }
    // Two unions are defined by hand in addr.rs as plain structs with the
    // same layout, so that reading an address back needs no `unsafe`.
    for name in ["pf_addr", "pf_addr_wrap"] {
        builder = builder
            .blocklist_type(name)
            .blocklist_type(format!("{name}__bindgen_ty_.*"));
    }
    for name in OPAQUE {
        builder = builder.opaque_type(name);
    }
    for name in kernel.constants {
        builder = builder.allowlist_var(name);
    }
    builder.generate().unwrap_or_else(|e| {
        fail(&format!(
            "bindgen could not parse the {} headers: {e}",
            kernel.os
        ))
    })
}
