# Sourced by the build scripts: where the tools and the cache live.
# The kernel and migr.ko must be built with Debian's rustc-web (it has rust-src) and a
# bindgen >= 0.65 from crates.io; userspace crates use the ordinary cargo.
MIGR_CACHE=${MIGR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/migr}
KRUSTC=${KRUSTC:-/usr/bin/rustc}
KBINDGEN=${KBINDGEN:-$HOME/.cargo/bin/bindgen}
KMAKEFLAGS="LLVM=1 RUSTC=$KRUSTC BINDGEN=$KBINDGEN"
KSRC_TARBALL=/usr/src/linux-source-6.12.tar.xz
kernel_pkg_version() { dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null; }
# migctl for the lab nodes (qemu-test/prepare) and the unit tests (scripts/test-all) are built
# with the same flags into the same target directory, so that their dependencies compile once.
# The flags select the cipher crates' portable backends: see qemu-test/prepare for why.
LAB_CTL_RUSTFLAGS="--cfg chacha20_force_soft --cfg poly1305_force_soft"
lab_ctl_target() { echo "$1/build/ctl-lab"; }  # $1 = the top of the checkout
