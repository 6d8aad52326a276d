#!/usr/bin/env bash
# Everything a fresh machine needs before ordinal runs: Debian packages (when root), a
# virtualenv with ordinal and its tools. Idempotent and quiet when nothing is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages. The simulated-node cluster needs none; real nodes (`ordinal cluster up
# --real-nodes N`) need a container runtime, CNI plugins, iptables for kube-proxy and the
# static busybox that ordinal packs into its busybox image. Headless Chromium (and a font for it)
# renders `ordinal report`'s index.html in the integration tests.
APT_PACKAGES=(containerd runc containernetworking-plugins iptables busybox-static iproute2 procps chromium fonts-dejavu-core)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: expected Debian packages ${missing[*]}; run as root or install them" >&2
    exit 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v go >/dev/null || { echo "setup: expected a Go toolchain (go1.26) on PATH, found none" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.ordinal-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  # The distribution was called `ordinal` before it became `ordinal-k8s`: one install, not two.
  .venv/bin/pip uninstall -q -y ordinal 2>/dev/null || true
  .venv/bin/pip install -q -e '.[dev]'
  touch "$stamp"
fi
