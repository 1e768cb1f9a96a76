#!/usr/bin/env bash
# A newcomer's first hour, replayed: README's two set-up lines, copied verbatim
# from README.md, run as root in a fresh Debian 12 root (debootstrap
# --variant=minbase bookworm from the mirror this machine's apt already uses)
# holding a copy of this checkout in /root/pymemtop.
#
#   tests/fresh_root.sh          (make fresh-check: needs root, the mirror, tmux)
#
# The copy is the working tree as it is (tracked and untracked files, not the
# ignored ones such as build/). The demo line runs in a terminal: a session of
# this machine's tmux on a socket of its own (the fresh root has no tmux until
# that line installs it); the dashboard must appear, then q quits it. The check
# line then runs the whole suite. It provisions Debian sid's Pythons inside the
# fresh root with debootstrap, as it would for the newcomer: this machine's
# cached sid root is not used, so nothing of this machine but the kernel leaks
# in (it costs about a minute). Each line runs in private mount and PID
# namespaces: /proc, /sys and /dev are mounted there only, and every process
# left in the root dies with them.
#
# Prints what each line did and the suite's "N passed, M failed"; exits 0 when
# the dashboard appeared, both lines exited 0 and nothing failed. Without root
# or a reachable mirror it says so and exits 0. The logs stay in the directory
# it names; PYMEMTOP_FRESH_KEEP=1 keeps the root there too.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(dirname "$HERE")
# shellcheck source=tests/debian.sh
. "$HERE/debian.sh"

DEMO_TIMEOUT_S=${PYMEMTOP_FRESH_DEMO_TIMEOUT:-1800}  # installs and builds first
CHECK_TIMEOUT_S=${PYMEMTOP_FRESH_CHECK_TIMEOUT:-14400}

say() { echo "fresh-check: $*"; }

if [ "$(id -u)" -ne 0 ]; then
    say "needs root (debootstrap, chroot, mounts): skipped"
    exit 0
fi
MIRROR=$(apt_mirror)
if [ -z "$MIRROR" ]; then
    say "no Debian mirror in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list: skipped"
    exit 0
fi
for tool in tmux unshare chroot; do
    command -v "$tool" >/dev/null 2>&1 || { say "$tool is missing here (make deps installs it)"; exit 1; }
done
if ! ensure_debootstrap; then
    say "could not install debootstrap (no network or mirror at $MIRROR?): skipped"
    exit 0
fi

# README's set-up lines: the non-empty lines of the first code block after the
# "## Set up" heading, exactly as a reader would copy them.
mapfile -t LINES < <(awk '/^## Set up/ { s = 1; next }
                          s && /^```/ { if (b) exit; b = 1; next }
                          b && NF' "$SRC/README.md")
if [ "${#LINES[@]}" -ne 2 ]; then
    say "README.md's set-up block under '## Set up' has ${#LINES[@]} lines, not two"
    exit 1
fi

W=$(mktemp -d /var/tmp/pymemtop-fresh.XXXXXX)
R=$W/root
SOCK=pymemtop-fresh-$$
T() { tmux -L "$SOCK" -f "$W/tmux.conf" "$@"; }
cleanup() {
    T kill-server 2>/dev/null
    if [ "${PYMEMTOP_FRESH_KEEP:-0}" = 1 ]; then
        say "the root is kept in $R"
    elif awk -v t="$R" 'index($2, t "/") == 1 { f = 1 } END { exit !f }' /proc/mounts; then
        # The mounts live in the namespaces only: one here means something
        # is wrong; leave it rather than remove through it.
        say "something is still mounted under $R: left in place"
    else
        remove_root "$R"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

say "logs in $W"
say "debootstrap --variant=minbase bookworm from $MIRROR"
if ! debootstrap --variant=minbase bookworm "$R" "$MIRROR" >"$W/debootstrap.log" 2>&1; then
    say "debootstrap failed (no network or mirror? last line: $(tail -n1 "$W/debootstrap.log")): skipped"
    exit 0
fi

# The checkout as the developer has it, without builds (.gitignore).
dst=$R/root/pymemtop
mkdir -p "$dst"
if git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$SRC" && git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do
            if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi  # not deleted ones
        done | tar --null -T - -cf -) | tar -xf - -C "$dst"
else
    tar -C "$SRC" --exclude=./.git --exclude=./build --exclude='./build-*' -cf - . |
        tar -xf - -C "$dst"
fi
chown -R root:root "$dst"

# One line, run inside the root as its root user would from the checkout:
# login-like environment, /bin/sh. Its exit code goes to $W/NAME.rc.
cat >"$W/inner.sh" <<'EOF'
R=$1 W=$2 what=$3
# The root is made a mount point first, as / is on any installed system: the
# suite's runner makes / private in a mount namespace of its own (for the sid
# chroot), which fails with EINVAL when / is a plain directory.
if mount --bind "$R" "$R" && mount -t proc proc "$R/proc" && mount --rbind /sys "$R/sys" &&
   mount --rbind /dev "$R/dev"
then
    chroot "$R" /usr/bin/env -i HOME=/root USER=root LOGNAME=root TERM="${TERM:-dumb}" \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        /bin/sh -c "cd /root/pymemtop && $(cat "$W/$what.line")"
    rc=$?
else
    rc=125
fi
echo "$rc" >"$W/$what.rc.tmp" && mv "$W/$what.rc.tmp" "$W/$what.rc"
EOF
printf '%s\n' "${LINES[0]}" >"$W/demo.line"
printf '%s\n' "${LINES[1]}" >"$W/check.line"
IN_ROOT=(unshare --mount --propagation private --pid --fork --kill-child bash "$W/inner.sh" "$R" "$W")

# Line 1 in a terminal. History kept whole and the pane kept after exit, so
# everything the line printed can be saved.
printf 'set -g history-limit 100000\nset -g remain-on-exit on\n' >"$W/tmux.conf"
say "line 1: ${LINES[0]}"
T new-session -d -s demo -x 100 -y 30 "$(printf '%q ' "${IN_ROOT[@]}" demo)"
demo_ok=0
deadline=$((SECONDS + DEMO_TIMEOUT_S))
while :; do
    screen=$(T capture-pane -p -t demo 2>/dev/null)
    # The dashboard's title line and the memory line of its first view.
    if grep -Eq '^pymemtop +PID [0-9]+ +Python 3\.[0-9]+' <<<"$screen" &&
       grep -Eq '^RSS [0-9.]+ [KMG]i?B' <<<"$screen"; then
        demo_ok=1
        break
    fi
    [ -e "$W/demo.rc" ] && break
    [ "$SECONDS" -ge "$deadline" ] && break
    sleep 1
done
if [ "$demo_ok" = 1 ]; then
    printf '%s\n' "$screen" >"$W/demo-screen.txt"
    say "line 1: the dashboard is up ($(grep -Eo 'Python 3\.[0-9]+\.[0-9]+' <<<"$screen" | head -n1)); sending q"
    T send-keys -t demo q
    deadline=$((SECONDS + 60))
    until [ -e "$W/demo.rc" ] || [ "$SECONDS" -ge "$deadline" ]; do sleep 1; done
else
    say "line 1: no dashboard on the screen (see $W/demo.log)"
fi
T capture-pane -p -S - -E - -t demo >"$W/demo.log" 2>/dev/null
T kill-server 2>/dev/null
demo_rc=$(cat "$W/demo.rc" 2>/dev/null || echo "none (still running after q)")
say "line 1: exit $demo_rc"

# Line 2: no terminal needed (the suite starts its own tmux inside the root).
say "line 2: ${LINES[1]} (log: $W/check.log)"
timeout --kill-after=30 "$CHECK_TIMEOUT_S" "${IN_ROOT[@]}" check </dev/null >"$W/check.log" 2>&1
check_rc=$(cat "$W/check.rc" 2>/dev/null || echo "none (timed out after $CHECK_TIMEOUT_S s)")
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$W/check.log" | tail -n1)
say "line 2: exit $check_rc; the suite ended: ${summary:-no summary line (see the log)}"
if grep -q '^NOTE .*not tested' "$W/check.log"; then
    say "not tested in the fresh root:"
    grep '^NOTE .*not tested' "$W/check.log" | sed 's/^NOTE /  /'
fi
sed -n '/^Failed:$/,$p' "$W/check.log" | grep '^  ' | sed 's/^/fresh-check: failed: /'
# README promises sid's Pythons to root: a fresh root has no pyenv builds,
# but it must have those.
sid_missing=$(grep -c '^NOTE .*(Debian sid root).*not tested' "$W/check.log")

if [ "$demo_ok" = 1 ] && [ "$demo_rc" = 0 ] && [ "$check_rc" = 0 ] && [ "$sid_missing" = 0 ] &&
   [[ "$summary" =~ ^[0-9]+\ passed,\ 0\ failed$ ]]; then
    say "ok: README's set-up lines work verbatim on a fresh Debian 12"
    exit 0
fi
say "FAILED (logs in $W)"
exit 1
