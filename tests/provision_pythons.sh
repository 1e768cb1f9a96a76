#!/usr/bin/env bash
# Provisions the current CPythons the integration tests run against besides
# the machine's own: a Debian sid root with python3.14, python3.15 and
# python3.14-dbg (binary packages; sid's binaries need sid's glibc, so the
# tests run them as `chroot ROOT python3.X`).
#
#   tests/provision_pythons.sh          (make pythons)
#
# ROOT is $PYMEMTOP_SID_ROOT, default /var/cache/pymemtop/sid-root: a cache
# outside the checkout, shared by every worktree. It is built in a temporary
# directory next to it and renamed into place, so a half-built root is never
# seen; an existing root whose three interpreters run is reused as is.
# The mirror is the one this machine's apt already uses (never a fixed host).
# Without root, network or mirror it says so on one line and exits 0: the test
# suite then lists these interpreters as not tested, by name.
set -uo pipefail

ROOT=${PYMEMTOP_SID_ROOT:-/var/cache/pymemtop/sid-root}
PKGS=python3.14,python3.15,python3.14-dbg
EXES=(python3.14 python3.15 python3.14d)

say() { echo "make pythons: $*"; }

runs_all() {
    local r=$1 exe
    for exe in "${EXES[@]}"; do
        chroot "$r" "/usr/bin/$exe" -c pass >/dev/null 2>&1 || return 1
    done
}

# shellcheck source=tests/debian.sh
. "$(dirname "$0")/debian.sh"

if [ "$(id -u)" -ne 0 ]; then
    say "needs root (debootstrap, chroot): no Debian sid Pythons provisioned; the suite skips 3.14/3.15/3.14-dbg"
    exit 0
fi

if [ -d "$ROOT" ] && runs_all "$ROOT"; then
    say "$ROOT is ready ($(chroot "$ROOT" /usr/bin/python3.14 -c 'import platform;print(platform.python_version())'), $(chroot "$ROOT" /usr/bin/python3.15 -c 'import platform;print(platform.python_version())'), 3.14-dbg)"
    exit 0
fi

MIRROR=$(apt_mirror)
if [ -z "$MIRROR" ]; then
    say "no Debian mirror found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list: no sid Pythons provisioned"
    exit 0
fi

if ! ensure_debootstrap; then
    say "could not install debootstrap (no network or mirror at $MIRROR?): no sid Pythons provisioned"
    exit 0
fi

parent=$(dirname "$ROOT")
mkdir -p "$parent"
# One provisioning at a time (parallel worktrees share the cache).
exec 9>"$ROOT.lock"
flock 9
if [ -d "$ROOT" ] && runs_all "$ROOT"; then
    say "$ROOT is ready (built by another run meanwhile)"
    exit 0
fi

tmp=$(mktemp -d "$ROOT.tmp.XXXXXX")
log=$(mktemp /tmp/pymemtop-debootstrap.XXXXXX.log)
trap 'remove_root "${tmp:-}"' EXIT

say "building a Debian sid root with $PKGS from $MIRROR into $ROOT (log: $log)"
start=$(date +%s)
if ! debootstrap --variant=minbase --include="$PKGS" sid "$tmp" "$MIRROR" >"$log" 2>&1; then
    say "debootstrap sid from $MIRROR failed (no network or mirror? last line: $(tail -n1 "$log")): no sid Pythons provisioned"
    exit 0
fi
if ! runs_all "$tmp"; then
    say "debootstrap finished but python3.14/python3.15/python3.14d do not run in it (see $log): no sid Pythons provisioned"
    exit 0
fi
# The downloaded packages are not needed to run the interpreters.
rm -f "$tmp"/var/cache/apt/archives/*.deb
chmod 0755 "$tmp"
if [ -e "$ROOT" ]; then
    old=$(mktemp -d "$ROOT.old.XXXXXX")
    mv -T "$ROOT" "$old/root"
    mv -T "$tmp" "$ROOT"
    rm -rf --one-file-system "$old"
else
    mv -T "$tmp" "$ROOT"
fi
tmp=
rm -f "$log"
say "$ROOT ready in $(( $(date +%s) - start )) s"
