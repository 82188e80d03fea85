#!/usr/bin/env bash
# Build krmfn's container images with podman: the function image localhost/krmfn:dev, also
# tagged with the name the examples use (ghcr.io/llm-d-incubation/krmfn:vX.Y.Z), and the
# Argo CD sidecar localhost/krmfn-argocd:dev (ghcr.io/llm-d-incubation/krmfn-argocd:vX.Y.Z),
# the Dockerfile's stage argocd-cmp.
#
#   bash scripts/build-image.sh            # base image (once), wheels, images, sizes
#   bash scripts/build-image.sh --context  # only fill image-context/ (for docker buildx)
#
# Environment:
#   BASE_IMAGE      default localhost/debian:bookworm-slim, made here with debootstrap from
#                   the Debian mirror this machine's apt uses; anything else is pulled as is.
#   DEBIAN_MIRROR   override that mirror.
#   PYTHON          the host Python whose pip fetches wheels (default python3).
#   CONTAINERS_CONF default tests/container/containers.conf (what this sandbox needs).
#
# The image installs only wheels prepared here, since a build may reach apt but not PyPI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL_BASE="localhost/debian:bookworm-slim"
BASE_IMAGE="${BASE_IMAGE:-$LOCAL_BASE}"
IMAGE="localhost/krmfn:dev"
ARGOCD_IMAGE="localhost/krmfn-argocd:dev"
PYTHON="${PYTHON:-python3}"
CONTEXT="$ROOT/image-context"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/tests/container/containers.conf}"

# Temporary directories to remove however the script ends.
TEMPS=()
cleanup() { ((${#TEMPS[@]} == 0)) || rm -rf "${TEMPS[@]}"; }
trap cleanup EXIT

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build-image: %s\n' "$*" >&2; exit 1; }

project_version() {
  "$PYTHON" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' \
    "$ROOT/pyproject.toml"
}

# The first URI that apt on this machine uses for the given archive path (debian or
# debian-security), from deb822 .sources files or one-line .list files.
apt_uri() {
  local archive="$1" uri
  uri="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | awk -v a="$archive" '$1 == "URIs:" { for (i = 2; i <= NF; i++) if ($i ~ ("/" a "/?$")) { print $i; exit } }')"
  if [[ -z "$uri" ]]; then
    uri="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | awk -v a="$archive" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ ("/" a "/?$")) { print $i; exit } }')"
  fi
  printf '%s\n' "${uri:-http://deb.debian.org/$archive}"
}

ensure_tools() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  if [[ "$BASE_IMAGE" == "$LOCAL_BASE" ]] && ! podman image exists "$LOCAL_BASE" 2>/dev/null; then
    command -v debootstrap >/dev/null || missing+=(debootstrap)
  fi
  ((${#missing[@]} == 0)) && return
  [[ "$(id -u)" == 0 ]] || die "missing ${missing[*]}: run scripts/ci-container-deps.sh as root"
  bash "$ROOT/scripts/ci-container-deps.sh"
}

# A bookworm minbase trimmed the way debian:bookworm-slim is (no docs, man pages or
# locales, now or from later apt installs), so local images measure like released ones.
build_base() {
  local mirror security rootfs
  mirror="${DEBIAN_MIRROR:-$(apt_uri debian)}"
  security="$(apt_uri debian-security)"
  rootfs="$(mktemp -d /tmp/krmfn-rootfs.XXXXXX)"
  TEMPS+=("$rootfs")
  log "debootstrap bookworm from $mirror"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
    || { tail -20 "$rootfs.log" >&2; die "debootstrap failed (log: $rootfs.log)"; }
  rm -f "$rootfs.log"

  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  printf 'Acquire::Languages "none";\n' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias \
    -exec rm -rf {} +
  rm -rf "$rootfs"/usr/share/{man,groff,info,lintian,linda}/* \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/log/* \
    "$rootfs"/etc/resolv.conf "$rootfs"/etc/hostname
  : >"$rootfs/etc/machine-id"

  log "importing $LOCAL_BASE"
  tar --numeric-owner -C "$rootfs" -c . \
    | podman import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["bash"]' - "$LOCAL_BASE" >/dev/null
}

# The wheels a requirements file locks, for x86_64 and aarch64 alike, so the same context
# serves a multi-arch build; pip inside the image picks its own. Tags name Debian bookworm's
# Python (CPython 3.11, glibc 2.36), not the host's, which may differ.
fetch_locked() {
  local requirements="$1" dest="$2" arch glibc platforms
  mkdir -p "$dest"
  for arch in x86_64 aarch64; do
    log "fetching the wheels ${requirements#"$ROOT/"} locks for cp311 $arch"
    # pip does not widen a manylinux_2_36 tag to older glibcs itself: list each one.
    platforms=(--platform "manylinux2014_$arch")
    for glibc in $(seq 17 36); do platforms+=(--platform "manylinux_2_${glibc}_$arch"); done
    "$PYTHON" -m pip download --quiet --no-deps --require-hashes --only-binary=:all: \
      --implementation cp --python-version 3.11 --abi cp311 "${platforms[@]}" \
      --dest "$dest" -r "$requirements"
  done
  cp "$requirements" "$dest/"
}

prepare_context() {
  local wheels="$CONTEXT/wheels" src
  rm -rf "$CONTEXT"
  mkdir -p "$wheels"
  src="$(mktemp -d /tmp/krmfn-src.XXXXXX)"
  TEMPS+=("$src")
  # A copy, so setuptools' build/ leftovers never put stale modules into the wheel.
  cp "$ROOT/pyproject.toml" "$src/"
  [[ -f "$ROOT/README.md" ]] && cp "$ROOT/README.md" "$src/"
  tar -C "$ROOT" --exclude=__pycache__ -c krmfn | tar -C "$src" -x
  log "building the krmfn wheel"
  SOURCE_DATE_EPOCH=315532800 "$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$wheels" "$src"
  fetch_locked "$ROOT/scripts/requirements-image.txt" "$wheels"
  fetch_locked "$ROOT/scripts/requirements-argocd.txt" "$CONTEXT/argocd-wheels"
}

# Build one target of the Dockerfile under two tags, drop the image it replaced, print its size.
build() {
  local image="$1" release="$2" start size previous
  shift 2
  previous="$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
  start=$SECONDS
  log "building $image from $BASE_IMAGE"
  # chroot isolation: a sandboxed machine may not allow the namespaces a RUN step needs.
  podman build --isolation=chroot --build-arg "BASE_IMAGE=$BASE_IMAGE" "$@" \
    --tag "$image" --tag "$release" --file "$ROOT/Dockerfile" "$ROOT"
  # The image this build replaced would linger untagged (~17 MB a rebuild); one still in
  # use stays.
  if [[ -n "$previous" && "$previous" != "$(podman image inspect --format '{{.Id}}' "$image")" ]]; then
    podman rmi "$previous" >/dev/null 2>&1 || true
  fi
  size="$(podman image inspect --format '{{.Size}}' "$image")"
  log "built $image and $release in $((SECONDS - start)) s"
  printf '%s size: %s MB (%s bytes)\n' "$image" "$((size / 1000000))" "$size"
}

main() {
  local version stage
  # One build at a time per machine: runs share image-context/ and the image tags.
  exec 9>"${TMPDIR:-/tmp}/krmfn-build-image.lock"
  flock -w 1800 9 || die "another build-image.sh has held the lock for 30 minutes"
  version="$(project_version)"
  prepare_context
  [[ "${1:-}" == "--context" ]] && { log "context ready in $CONTEXT"; return; }

  ensure_tools
  if [[ "$BASE_IMAGE" == "$LOCAL_BASE" ]]; then
    if podman image exists "$LOCAL_BASE"; then
      log "reusing $LOCAL_BASE"
    else
      build_base
    fi
  fi

  build "$ARGOCD_IMAGE" "ghcr.io/llm-d-incubation/krmfn-argocd:v$version" --target argocd-cmp
  build "$IMAGE" "ghcr.io/llm-d-incubation/krmfn:v$version"
  # Of the stages that only build (the venv, kubectl), each build leaves one untagged image
  # (~30 MB and ~60 MB); all but the newest of each, the next build's cache, go.
  for stage in builder kubectl; do
    podman images --no-trunc --filter dangling=true --filter "label=io.llm-d.krmfn.stage=$stage" \
      --format '{{.CreatedAt}} {{.ID}}' | sort -r | tail -n +2 | awk '{ print $NF }' \
      | xargs --no-run-if-empty podman rmi >/dev/null 2>&1 || true
  done
}

main "$@"
