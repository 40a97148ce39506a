#!/usr/bin/env bash
# Installs what building and testing need on a fresh machine of this kind (Debian, Rust
# toolchain present). Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

# C toolchain pieces for aws-lc (MLS crypto provider and rustls' default provider).
need_apt=()
command -v cmake >/dev/null || need_apt+=(cmake)
[ -e /usr/lib/llvm-14/lib/libclang.so ] || ls /usr/lib/llvm-*/lib/libclang*.so >/dev/null 2>&1 || need_apt+=(libclang-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}"
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q "${need_apt[@]}" >/dev/null
fi

# Upstream's Python bindings, the independent peer of the interoperability tests.
venv=.venv-interop
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import slim_bindings' 2>/dev/null; then
  echo "setup: creating $venv with slim-bindings==3.3.8"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check slim-bindings==3.3.8
fi
