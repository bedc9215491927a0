# scripts/lib.sh: shared by scripts/run, scripts/test and scripts/bench.
# Installs the Debian packages a step needs when they are missing, and
# configures and builds one meson build directory.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian packages the build needs, beyond gcc and clang.
BUILD_PACKAGES="meson ninja-build pkg-config netcat-openbsd libuv1-dev libwslay-dev libmbedtls-dev \
libjansson-dev libhttp-parser-dev libsqlite3-dev libhiredis-dev"

# need_packages PKG...: installs those not installed yet (we run as root).
need_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
}

# build DIR [meson options...]: configures DIR once, then builds it.
build() {
    local dir=$1
    shift
    if [ ! -f "$ROOT/$dir/build.ninja" ]; then
        meson setup "$ROOT/$dir" "$ROOT" "$@" >"$ROOT/$dir.setup.log" 2>&1 || {
            cat "$ROOT/$dir.setup.log" >&2
            return 1
        }
    fi
    ninja -C "$ROOT/$dir" >"$ROOT/$dir.build.log" 2>&1 || {
        tail -n 60 "$ROOT/$dir.build.log" >&2
        return 1
    }
}
