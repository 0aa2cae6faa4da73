#!/usr/bin/env bash
# Makes sure a Vulkan driver is present: on a machine without a GPU driver, installs Mesa's
# software Vulkan (lavapipe) on Debian/Ubuntu. Sourced by run.sh and test.sh.
have_icd() {
  local icd=0 f
  for f in /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json /usr/local/share/vulkan/icd.d/*.json; do
    [ -e "$f" ] && icd=1
  done
  # No pipe into `grep -q`: under pipefail its early exit would fail the pipeline.
  [ "$icd" = 1 ] && [[ "$(ldconfig -p 2>/dev/null)" == *libvulkan.so.1* ]]
}
if ! have_icd; then
  echo "vitfuse: no Vulkan driver found; installing Mesa's software Vulkan (lavapipe)" >&2
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers >/dev/null
  fi
  have_icd || { echo "vitfuse: still no Vulkan driver; install mesa-vulkan-drivers (or your GPU's driver)" >&2; exit 1; }
fi
# GPU tests fail (never skip) when no adapter opens.
export VITFUSE_REQUIRE_ADAPTER=1
# Silence the GL/EGL probe's complaint on headless machines.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
