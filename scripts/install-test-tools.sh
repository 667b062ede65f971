#!/usr/bin/env bash
# Installs the system tools the remote and ARM tests need, the same step .ci/run takes:
#   - Debian's openssh-server + openssh-client: a real sshd on 127.0.0.1 for `bench --ssh` tests;
#   - qemu-user-static + debootstrap: the emulated aarch64 board (a bookworm arm64 userland with the
#     aarch64 wheels of ai-edge-litert and tflite-runtime 2.14, cached in ~/.cache/edgekit/aarch64:
#     about a minute the first time, nothing after).
# Needs root (apt-get) and edgekit installed (`pip install -c constraints.txt -e ".[all,test]"`).
# Without these tools the tests that need them skip with the reason; with them, the whole suite runs
# as it does in CI.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
{ [ -x /usr/sbin/sshd ] && command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1; } \
  || need+=(openssh-server openssh-client)
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "error: installing ${need[*]} needs root: sudo bash $0" >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
edgekit device setup --runtime litert --runtime tflite-runtime
