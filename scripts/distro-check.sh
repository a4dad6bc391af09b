#!/usr/bin/env bash
# Checks that the README's two commands work on a fresh Debian of another
# release, in a chroot.
#
#   scripts/distro-check.sh [suite]        (default: trixie, Debian 13)
#
# Needs root. Steps:
# 1. A minimal Debian root file system (debootstrap --variant=minbase) is made
#    once and cached in ${MOD_WSGI_RS_CACHE:-/var/cache/mod_wsgi_rs}/distro/<suite>
#    (<suite>.ready marks it complete; mirror: $DEBIAN_MIRROR, default
#    http://deb.debian.org/debian). debootstrap is installed if missing.
# 2. Each run works on a throwaway overlay of that base (a copy if overlayfs
#    cannot be mounted), so every run starts from the same pristine system:
#    /proc, /sys, /dev, /dev/pts mounted, /etc/resolv.conf and the host's CA
#    certificates copied (the chroot shares its network), the host's
#    Rust toolchain (/root/.cargo, /root/.rustup) bind-mounted at the same
#    paths, and this repository's files — HEAD plus uncommitted and untracked
#    (not ignored) changes — copied to /srv/mod_wsgi_rs. Downloaded .debs are
#    kept in <suite>.apt-archives between runs (a download cache only), and a
#    policy-rc.d keeps packages from starting services (apache2 on port 80).
#    Nothing else is installed: the README's only prerequisite is cargo.
# 3. scripts/serve-example.sh runs in the background until
#    http://127.0.0.1:8000/ answers "Hello World!" (another port if 8000 is
#    taken on the host, which shares its network with the chroot), then it is
#    stopped.
# 4. CI=true scripts/test.sh (the distribution's Python only: no pyenv there).
#
# Afterwards every process running in the chroot is killed, everything is
# unmounted and the work copy removed. A summary (suite, Python and Apache
# versions, each step's result and duration) is printed and written to
# <cache>/distro/<suite>.last; the steps' logs are in <cache>/distro/<suite>.logs/.
# Exits non-zero if any step failed.
set -euo pipefail

suite="${1:-trixie}"
if [[ ! "$suite" =~ ^[a-z][a-z0-9-]*$ ]]; then
    echo "usage: $0 [suite]   (a Debian suite name such as trixie)" >&2
    exit 2
fi
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
serve_timeout=$((15 * 60)) # the first release build in a fresh system
test_timeout=$((60 * 60))  # fmt, clippy, a debug build and the whole suite

repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${MOD_WSGI_RS_CACHE:-/var/cache/mod_wsgi_rs}"
mkdir -p "$cache/distro"
# Physical path: it is compared with the kernel's /proc/PID/root and mountinfo.
distro="$(cd "$cache/distro" && pwd -P)"
base="$distro/$suite"
run="$distro/$suite.run" # one run at a time per suite (see the lock below)
root="$run/root"
logs="$distro/$suite.logs"
archives="$distro/$suite.apt-archives"
# What a login shell of root has; nothing from the caller's environment leaks in.
chroot_env=(env -i HOME=/root USER=root LOGNAME=root SHELL=/bin/bash "TERM=${TERM:-dumb}"
    PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    RUSTUP_HOME=/root/.rustup CARGO_HOME=/root/.cargo)

say() { echo "distro-check: $*" >&2; }
die() {
    say "$*"
    exit 1
}

[[ $(id -u) -eq 0 ]] || die "needs root (debootstrap, chroot, mount)"
[[ -d /root/.cargo/bin && -d /root/.rustup ]] ||
    die "no Rust toolchain in /root/.cargo and /root/.rustup (it is bind-mounted into the chroot)"
for tool in curl git; do
    command -v "$tool" >/dev/null || die "$tool is needed on this machine"
done

mkdir -p "$logs" "$archives"
# fd 9 holds the lock; commands in the chroot get it closed (9>&-), so that
# nothing they leave behind can hold it.
exec 9>"$distro/$suite.lock"
flock -w 10 9 || die "another distro-check of $suite is running (lock $distro/$suite.lock)"

# --- process and mount helpers ------------------------------------------------
# PIDs of the processes whose root directory is $1.
pids_in() {
    local p r
    for p in /proc/[0-9]*; do
        r="$(readlink "$p/root" 2>/dev/null)" || continue
        [[ "$r" == "$1" ]] && echo "${p#/proc/}"
    done
    return 0
}

# Kills everything running in the chroot at $1: TERM, then KILL (bounded waits).
kill_in() {
    local sig pids i
    for sig in TERM KILL; do
        pids="$(pids_in "$1")"
        [[ -n "$pids" ]] || return 0
        say "sending SIG$sig to what still runs in the chroot: $(echo "$pids" | tr '\n' ' ')"
        # shellcheck disable=SC2086 # one PID per word
        kill -s "$sig" $pids 2>/dev/null || true
        for ((i = 0; i < 20; i++)); do
            [[ -z "$(pids_in "$1")" ]] && return 0
            sleep 0.5
        done
    done
    [[ -z "$(pids_in "$1")" ]] || say "still running in the chroot: $(pids_in "$1" | tr '\n' ' ')"
}

# Mount points at or below $1, deepest first.
mounts_under() {
    awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

# mount, and keep the new mount from propagating to (or from) the host's
# mounts: on a host with shared mounts (systemd), a mount under a bind of
# /dev would otherwise also appear on the host's /dev.
mnt() {
    mount "$@" && mount --make-private "${@: -1}"
}

# Undoes a run at $1 (also one left behind by a killed earlier run): kills its
# processes, unmounts (lazily if busy), and removes it only once nothing is
# mounted below it any more — never delete through a bind mount of the host.
teardown() {
    local dir="$1" m i
    [[ -e "$dir" ]] || return 0
    kill_in "$dir/root"
    for ((i = 0; i < 3; i++)); do
        while read -r m; do
            [[ -n "$m" ]] || continue
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
        done < <(mounts_under "$dir")
        [[ -z "$(mounts_under "$dir")" ]] && break
        sleep 1
    done
    if [[ -n "$(mounts_under "$dir")" ]]; then
        say "still mounted, so $dir is kept: $(mounts_under "$dir" | tr '\n' ' ')"
        return 1
    fi
    rm -rf --one-file-system "$dir"
}

# --- steps, their results and the summary --------------------------------------
names=() results=() durations=()
python_version="?" apache_version="?" served=""
started=$SECONDS
start_date="$(date -u '+%Y-%m-%d %H:%M UTC')"
source_desc="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')"
changed="$(git -C "$repo" status --porcelain 2>/dev/null | wc -l)"
((changed == 0)) || source_desc+=" + $changed uncommitted/untracked file(s)"

# step NAME FUNCTION...: runs it, records ok/FAILED and the seconds it took.
step() {
    local name="$1" t0=$SECONDS rc=0
    shift
    say "=== $name"
    "$@" || rc=$?
    names+=("$name")
    durations+=($((SECONDS - t0)))
    if ((rc == 0)); then results+=(ok); else results+=(FAILED); fi
    say "=== $name: ${results[-1]} ($((SECONDS - t0)) s)"
    return "$rc"
}

hms() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

summary() {
    local i verdict="$1"
    echo "distro-check $suite ($start_date)"
    echo "  source:  $repo at $source_desc"
    echo "  Python:  $python_version"
    echo "  Apache:  $apache_version"
    [[ -z "$served" ]] || echo "  served:  $served"
    for i in "${!names[@]}"; do
        printf '  %-7s %-58s %s\n' "${results[i]}" "${names[i]}" "$(hms "${durations[i]}")"
    done
    echo "  total:   $(hms $((SECONDS - started)))"
    echo "  result:  $verdict   (logs: $logs/)"
}

finish() {
    local rc=$? verdict=PASS
    trap - EXIT INT TERM
    [[ ! -x "$root/usr/bin/python3" ]] || versions
    teardown "$run" || rc=1
    if ((rc == 130 || rc == 143)); then
        verdict="INTERRUPTED (signal)"
    elif ((rc != 0)) || [[ " ${results[*]} " == *" FAILED "* ]] || ((${#names[@]} < 4)); then
        verdict=FAIL
        ((rc != 0)) || rc=1
    fi
    summary "$verdict" | tee "$distro/$suite.last"
    exit "$rc"
}

# --- 1. the cached base system ------------------------------------------------------
make_base() {
    if [[ -e "$base.ready" ]]; then
        say "reusing the $suite base system in $base"
        return 0
    fi
    if ! command -v debootstrap >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        timeout 600 apt-get install -y -q debootstrap ||
            { timeout 600 apt-get update -q && timeout 600 apt-get install -y -q debootstrap; } || return 1
    fi
    # An unfinished base (interrupted debootstrap) is started over.
    [[ -z "$(mounts_under "$base")" ]] || {
        say "something is mounted under $base"
        return 1
    }
    rm -rf --one-file-system "$base"
    mkdir -p "$base"
    say "debootstrap --variant=minbase $suite (log: $logs/debootstrap.log)"
    # In the background: a trapped Ctrl-C interrupts `wait` at once.
    timeout 1800 debootstrap --variant=minbase "$suite" "$base" "$mirror" \
        >"$logs/debootstrap.log" 2>&1 &
    if ! wait $!; then
        tail -20 "$logs/debootstrap.log" >&2
        return 1
    fi
    date -u >"$base.ready"
}

# --- 2. a pristine system for this run ----------------------------------------------
prepare() {
    mkdir -p "$run/upper" "$run/work" "$root"
    if ! mnt -t overlay overlay -o "lowerdir=$base,upperdir=$run/upper,workdir=$run/work" "$root" 2>/dev/null; then
        say "overlayfs unavailable here: copying the base system instead"
        cp -a --reflink=auto "$base/." "$root/" || return 1
        mnt --bind "$root" "$root" || return 1 # a mount point of its own, made private
    fi
    mnt -t proc proc "$root/proc" &&
        mnt -t sysfs sysfs "$root/sys" &&
        mnt --bind /dev "$root/dev" &&
        mnt --bind /dev/pts "$root/dev/pts" &&
        mnt -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm" || return 1
    mkdir -p "$root/root/.cargo" "$root/root/.rustup" "$root/var/cache/apt/archives"
    mnt --bind /root/.cargo "$root/root/.cargo" &&
        mnt --bind /root/.rustup "$root/root/.rustup" &&
        mnt --bind "$archives" "$root/var/cache/apt/archives" || return 1

    rm -f "$root/etc/resolv.conf"
    cp -L /etc/resolv.conf "$root/etc/resolv.conf"
    # Every installed system has these (the installer or container runtime
    # writes them); minbase does not.
    [[ -s "$root/etc/hosts" ]] ||
        printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
    # The chroot uses this machine's network, so it trusts the certificate
    # authorities this machine does (a site CA, a TLS-inspecting proxy: pip
    # fails without them). Only as local CAs: they take effect once the
    # ca-certificates package is installed, as on any machine of that site.
    if [[ -s /etc/ssl/certs/ca-certificates.crt ]]; then
        mkdir -p "$root/usr/local/share/ca-certificates"
        cp /etc/ssl/certs/ca-certificates.crt "$root/usr/local/share/ca-certificates/distro-check-host.crt"
    fi
    # Packages' maintainer scripts must not start services (apache2 on port 80)
    # in the chroot, which shares the host's network.
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"

    # The repository as a clone made with umask 022 would have it, including
    # uncommitted work (git ls-files also lists deleted files: skipped).
    local dest="$root/srv/mod_wsgi_rs"
    mkdir -p "$dest"
    (cd "$repo" && git ls-files -z -co --exclude-standard |
        while IFS= read -r -d '' f; do
            [[ -e "$f" || -L "$f" ]] && printf '%s\0' "$f"
        done | tar --null --no-recursion -T - -cf -) |
        tar -xf - --no-same-owner -C "$dest" || return 1
    chmod -R u+rwX,go+rX,go-w "$dest"
    say "copied $(find "$dest" -type f | wc -l) files to /srv/mod_wsgi_rs"

    # The base has no package lists yet.
    timeout 600 chroot "$root" "${chroot_env[@]}" apt-get update -q >"$logs/apt-update.log" 2>&1 9>&- || {
        tail -20 "$logs/apt-update.log" >&2
        return 1
    }
}

# --- 3. the README's first command ---------------------------------------------------
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

serve_example() {
    local port=8000 args=() pid answer="" rc=1 log="$logs/serve-example.log" t0=$SECONDS
    if port_busy "$port"; then
        for port in $(seq 8001 8099); do port_busy "$port" || break; done
        port_busy "$port" && {
            say "ports 8000-8099 are all taken on this machine"
            return 1
        }
        say "port 8000 is taken on this machine (the chroot shares its network): using --port $port"
        args=(--port "$port")
    fi
    say "scripts/serve-example.sh ${args[*]} (log: $log; waiting up to $((serve_timeout / 60)) min)"
    # Its own session, so it can be stopped as a process group.
    setsid chroot "$root" "${chroot_env[@]}" bash -c 'cd /srv/mod_wsgi_rs && exec scripts/serve-example.sh "$@"' \
        serve-example "${args[@]}" </dev/null >"$log" 2>&1 9>&- &
    pid=$!
    local deadline=$((SECONDS + serve_timeout)) next_note=$((SECONDS + 60))
    while :; do
        answer="$(curl -s --max-time 5 "http://127.0.0.1:$port/" || true)"
        if [[ "$answer" == "Hello World!" ]]; then
            say "http://127.0.0.1:$port/ answers: $answer"
            served="http://127.0.0.1:$port/ answered \"$answer\" after $((SECONDS - t0)) s"
            rc=0
            break
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            say "scripts/serve-example.sh exited before answering; its log ends:"
            break
        fi
        if ((SECONDS >= deadline)); then
            say "no \"Hello World!\" on port $port after $((serve_timeout / 60)) min (last answer: '${answer}'); log ends:"
            break
        fi
        if ((SECONDS >= next_note)); then
            say "still waiting ($(tail -1 "$log" | cut -c1-100))"
            next_note=$((SECONDS + 60))
        fi
        sleep 2
    done
    ((rc == 0)) || tail -30 "$log" >&2
    # Stop it: its process group first (wsgi-express and Apache), then anything
    # else left in the chroot.
    kill -TERM -- "-$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 20; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    kill_in "$root"
    wait "$pid" 2>/dev/null || true
    if port_busy "$port"; then
        say "port $port still answers after stopping"
        rc=1
    fi
    return "$rc"
}

# --- 4. the README's second command ---------------------------------------------------
run_tests() {
    local log="$logs/test.log" rc=0
    say "CI=true scripts/test.sh (log: $log)"
    # In the background: a trapped Ctrl-C interrupts `wait` at once (timeout
    # puts the command in its own process group, out of the terminal's reach).
    {
        timeout --kill-after=30 "$test_timeout" chroot "$root" "${chroot_env[@]}" CI=true \
            bash -c 'cd /srv/mod_wsgi_rs && exec scripts/test.sh' </dev/null 2>&1 9>&- | tee "$log"
    } &
    wait $! || rc=$? # the pipeline's status (pipefail): test.sh's, or timeout's 124
    kill_in "$root"
    return "$rc"
}

versions() {
    python_version="$(timeout 20 chroot "$root" "${chroot_env[@]}" /usr/bin/python3 -c \
        'import sys; print(sys.version.split()[0], "(/usr/bin/python3)")' 2>/dev/null 9>&- ||
        echo '? (no /usr/bin/python3)')"
    apache_version="$(timeout 20 chroot "$root" "${chroot_env[@]}" apache2 -v 2>/dev/null 9>&- |
        sed -n 's/^Server version: //p')"
    [[ -n "$apache_version" ]] || apache_version="? (no apache2)"
}

# --- main -----------------------------------------------------------------------------
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

teardown "$run" # what a killed earlier run left behind
step "base system: debootstrap --variant=minbase $suite" make_base || exit 1
step "pristine system (overlay), repository copy, apt-get update" prepare || exit 1
step "scripts/serve-example.sh -> Hello World!" serve_example || true
step "CI=true scripts/test.sh" run_tests || true
