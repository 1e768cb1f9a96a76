# shellcheck shell=bash
# Sourced (not run) by the scripts that build Debian roots with debootstrap:
# tests/provision_pythons.sh (make pythons) and tests/fresh_root.sh
# (make fresh-check). Needs bash.

# The URI of the apt source whose suites include the base Debian suite
# ("bookworm", not "bookworm-updates" or "bookworm-security"): the mirror this
# machine's apt already uses, never a fixed host.
apt_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '
            function flush() {
                if (deb && uri != "" && base) { print uri; found = 1; exit }
                deb = 0; uri = ""; base = 0
            }
            /^[ \t]*$/ { flush(); next }
            /^[ \t]*#/ { next }
            tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
            tolower($1) == "uris:" { uri = $2 }
            tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i !~ /[-\/]/) base = 1 }
            END { if (!found) flush() }
        ' "$f"
    done | head -n1 | grep . && return 0
    [ -f /etc/apt/sources.list ] || return 1
    awk '$1 == "deb" {
            i = 2; if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
            if ($(i + 1) !~ /[-\/]/) { print $i; exit }
         }' /etc/apt/sources.list | grep .
}

# Installs debootstrap if missing (as root). Returns non-zero when it cannot.
ensure_debootstrap() {
    command -v debootstrap >/dev/null 2>&1 && return 0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1 && return 0
    apt-get update -qq >/dev/null 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1
}

# Unmounts whatever is still mounted under $1 (deepest first) and removes it.
# --one-file-system: never descend into a /proc, /sys or /dev left mounted.
remove_root() {
    local t=$1
    [ -n "$t" ] && [ -d "$t" ] || return 0
    awk -v t="$t" 'index($2, t "/") == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf --one-file-system "$t"
}
