#!/usr/bin/env bash
# Install what building and running krmfn's image needs on a fresh Debian bookworm machine
# (as root): podman with runc (crun is refused in sandboxes like CI's), debootstrap for the
# local base image, pip for the host Python that fetches wheels, and bubblewrap for the
# runtime tier's pods. Does nothing when all is there already.
set -euo pipefail

have_all() {
  command -v podman >/dev/null && command -v runc >/dev/null && command -v bwrap >/dev/null \
    && command -v debootstrap >/dev/null && "${PYTHON:-python3}" -m pip --version >/dev/null 2>&1
}

if have_all; then
  echo "container tools present: $(podman --version), runc, debootstrap, bubblewrap"
  exit 0
fi
[[ "$(id -u)" == 0 ]] || { echo "ci-container-deps: run as root" >&2; exit 1; }

packages=(podman runc debootstrap debian-archive-keyring ca-certificates bubblewrap)
"${PYTHON:-python3}" -m pip --version >/dev/null 2>&1 || packages+=(python3-pip)

# Another apt may still be running (an image's first-boot install): wait for its lock
# rather than failing.
apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 "$@"; }
apt_get update -q
apt_get install -y -q "${packages[@]}"
echo "installed: $(podman --version), $(runc --version | head -1), debootstrap"
