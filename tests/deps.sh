#!/bin/sh
# Installs what pymemtop needs on Debian 12 and is missing: README's set-up
# lines run it before make (a fresh Debian has no make), `make deps` runs it.
# As root through apt-get directly (a minimal root has no sudo), otherwise
# through sudo. `make pythons` installs debootstrap itself when it needs it.
set -eu

# build: make, a C compiler, pkg-config, the three libraries, python3-dev (the
# agent's headers and /usr/bin/python3). tests: tmux (the real dashboard),
# strace (an already-traced target), procps (pgrep), util-linux (setpriv,
# unshare), passwd (useradd for the second user), systemd-container
# (systemd-nspawn: real containers), prometheus (with promtool: the exporter tests
# run a real Prometheus server).
PKGS="make build-essential pkg-config libncurses-dev libproc2-dev libinih-dev python3-dev
      tmux strace procps util-linux passwd systemd-container prometheus"

say() { echo "deps: $*"; }

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    # shellcheck disable=SC2086 # one word per package
    say "not a Debian system: install the equivalents of:" $PKGS
    exit 0
fi

missing=
for p in $PKGS; do
    dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q ' installed$' || missing="$missing $p"
done
[ -n "$missing" ] || exit 0

if [ "$(id -u)" -eq 0 ]; then
    S=
elif command -v sudo >/dev/null 2>&1; then
    S=sudo
else
    say "missing:$missing; there is no sudo here: run this as root (su -c 'sh tests/deps.sh')"
    exit 1
fi
say "installing:$missing"
$S apt-get update -qq
# shellcheck disable=SC2086 # one word per package
$S env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
