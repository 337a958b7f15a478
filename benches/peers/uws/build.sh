#!/usr/bin/env bash
# Builds the uWebSockets peers, uws-echo (echo.cpp) and uws-pubsub (pubsub.cpp), into
# target/uws/ and prints that directory on stdout. Cached: the sources are extracted once
# per revision, uSockets is built once, and a server is compiled again only when its source,
# peer.h or this script is newer than the binary.
#
#   benches/peers/uws/build.sh
#
# uWebSockets and uSockets (its event loop; a git submodule of it, so a second repository)
# are public projects; their sources go to target/uws/src and are never committed. Taken
# from, the first that applies:
#   1. UWS_GIT and USOCKETS_GIT: git directories holding the revisions (a .git or a bare repo);
#   2. the local mirrors $UWS_MIRRORS/uNetworking+uWebSockets/repo and .../uNetworking+uSockets/repo
#      (UWS_MIRRORS defaults to /work/.mirror), if they hold the revisions;
#   3. GitHub: the two commits alone (depth 1) fetched into target/uws/git/.
# Env: UWS_REV / USOCKETS_REV (default: the pins below), UWS_CACHE (default target/uws),
# CC / CXX (gcc / g++), FORCE=1 (extract and build everything again).
# Installs what it lacks with apt-get: g++, make, zlib1g-dev, git.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"

# The revisions the benchmarks were measured with: uWebSockets v20.79.0-17-g66dcff3
# (2026-08-18), and the uSockets commit it pins as its submodule.
UWS_REV=${UWS_REV:-66dcff3dd48f0c19dd1703426365d062039321d0}
USOCKETS_REV=${USOCKETS_REV:-86097c490263ab662d62e8e7b541390bdec7d149}
MIRRORS=${UWS_MIRRORS:-/work/.mirror}
CACHE=${UWS_CACHE:-$ROOT/target/uws}
SRC=$CACHE/src
CC=${CC:-gcc} CXX=${CXX:-g++}
export CC CXX
log() { echo "[uws build] $*" >&2; }

need_apt=()
command -v "$CXX" >/dev/null || need_apt+=(g++)
command -v make >/dev/null || need_apt+=(make)
command -v git >/dev/null || need_apt+=(git)
[ -f /usr/include/zlib.h ] || need_apt+=(zlib1g-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
    log "installing ${need_apt[*]}"
    apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

has_rev() { git --git-dir="$1" cat-file -e "$2^{commit}" 2>/dev/null; }

# git_dir GIVEN MIRROR NAME REV: a git directory holding REV (see the header for the order).
git_dir() {
    local given=$1 mirror=$2 name=$3 rev=$4
    if [ -n "$given" ]; then
        has_rev "$given" "$rev" || { log "$given does not hold $rev"; exit 1; }
        echo "$given"
    elif has_rev "$mirror" "$rev"; then
        echo "$mirror"
    else
        local dir=$CACHE/git/$name.git
        if ! has_rev "$dir" "$rev"; then
            log "fetching uNetworking/$name $rev from GitHub"
            git init -q --bare "$dir"
            git --git-dir="$dir" fetch -q --depth 1 "https://github.com/uNetworking/$name.git" "$rev" \
                || { log "could not fetch $name: set UWS_GIT and USOCKETS_GIT to clones"; exit 1; }
        fi
        echo "$dir"
    fi
}

# ---- 1. sources, extracted when the revisions change
STAMP="uWebSockets $UWS_REV uSockets $USOCKETS_REV"
if [ "${FORCE:-0}" = 1 ] || [ "$(cat "$SRC/.stamp" 2>/dev/null)" != "$STAMP" ]; then
    uws_git=$(git_dir "${UWS_GIT:-}" "$MIRRORS/uNetworking+uWebSockets/repo" uWebSockets "$UWS_REV")
    us_git=$(git_dir "${USOCKETS_GIT:-}" "$MIRRORS/uNetworking+uSockets/repo" uSockets "$USOCKETS_REV")
    pin=$(git --git-dir="$uws_git" ls-tree "$UWS_REV" uSockets | awk '{print $3}')
    if [ -n "$pin" ] && [ "$pin" != "$USOCKETS_REV" ]; then
        log "warning: uWebSockets ${UWS_REV:0:12} pins uSockets $pin, building with $USOCKETS_REV"
    fi
    log "extracting uWebSockets ${UWS_REV:0:12} ($uws_git) and uSockets ${USOCKETS_REV:0:12} ($us_git)"
    rm -rf "$SRC"
    mkdir -p "$SRC/uSockets"
    git --git-dir="$uws_git" archive "$UWS_REV" | tar -x -C "$SRC"
    git --git-dir="$us_git" archive "$USOCKETS_REV" | tar -x -C "$SRC/uSockets"
    echo "$STAMP" >"$SRC/.stamp"
fi

# ---- 2. uSockets.a: upstream's Makefile and defaults (-O3 -flto), without TLS
if [ ! -f "$SRC/uSockets/uSockets.a" ]; then
    log "building uSockets.a"
    # (its Makefile tries Windows' lib.exe before ar: that failure is expected, hence the log)
    make -C "$SRC/uSockets" WITH_OPENSSL=0 WITH_BORINGSSL=0 WITH_WOLFSSL=0 >"$CACHE/uSockets.log" 2>&1 \
        || { cat "$CACHE/uSockets.log" >&2; exit 1; }
fi

# ---- 3. the two servers, with the flags of uWebSockets' own examples build
for server in echo pubsub; do
    bin=$CACHE/uws-$server
    if [ "${FORCE:-0}" = 1 ] || [ ! -x "$bin" ]; then stale=1; else stale=0; fi
    for dep in "$HERE/$server.cpp" "$HERE/peer.h" "$HERE/build.sh" "$SRC/uSockets/uSockets.a"; do
        [ "$dep" -nt "$bin" ] && stale=1
    done
    if [ $stale = 1 ]; then
        log "compiling $bin"
        "$CXX" -O3 -std=c++20 -flto=auto -DLIBUS_NO_SSL -I"$SRC/src" -I"$SRC/uSockets/src" \
            "$HERE/$server.cpp" "$SRC/uSockets/uSockets.a" -lz -o "$bin.tmp"
        mv -f "$bin.tmp" "$bin"
    fi
done
echo "$CACHE"
