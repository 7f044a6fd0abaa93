# Shared by the scripts: paths and small helpers. Sourced, not run.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
# A target directory outside the checkout, so that a fresh clone (CI's) reuses earlier builds
# of the dependencies on the same machine.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/layercast/target}"

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the Debian packages among "$@" that are missing.
apt_install() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Builds the `layercast` binary: `build_layercast debug|release|demo` (a cargo profile; `demo` is
# scripts/run's, see Cargo.toml), into $CARGO_TARGET_DIR/<profile>/layercast. A binary of an
# optimised profile embeds frontend/dist (see backend/src/main.rs); cargo notices a change of a
# file it embedded, but not a dashboard built after the binary was, so then the file holding
# the embed is marked changed. (A debug binary reads frontend/dist at run time.)
build_layercast() {
    local profile="$1" flags=(--locked --bin layercast)
    [ "$profile" != debug ] && flags+=(--profile "$profile")
    local index="$ROOT/frontend/dist/index.html" bin="$CARGO_TARGET_DIR/$profile/layercast"
    if [ "$profile" != debug ] && [ -f "$index" ] && [ "$index" -nt "$bin" ]; then
        touch "$ROOT/backend/src/main.rs"
    fi
    # At the top, without -p: the default members, as every other backend build of the
    # scripts, so that all share one build of the dependencies (see Cargo.toml).
    cargo build "${flags[@]}"
}
