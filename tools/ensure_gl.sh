#!/usr/bin/env bash
# Install what the OpenGL (3D preview) tests need to run under a virtual X server: Xvfb and Mesa.
# Only as root on Debian/Ubuntu and only when missing; otherwise say what is missing and exit 1
# (the GL tests then skip with that reason; everything else still runs offscreen).
set -u
need=()
command -v xvfb-run >/dev/null 2>&1 || need+=(xvfb xauth)
for lib in libGL.so.1 libEGL.so.1 libxkbcommon-x11.so.0 libxcb-cursor.so.0 libxcb-icccm.so.4 libxcb-keysyms.so.1; do
  ldconfig -p 2>/dev/null | grep -q "$lib" || need+=("$lib")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq xvfb xauth libgl1-mesa-dri libegl1 libxkbcommon-x11-0 \
    libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xinerama0 >/dev/null && exit 0
fi
echo "missing for GL tests: ${need[*]}" >&2
exit 1
