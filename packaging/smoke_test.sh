#!/usr/bin/env bash
# Smoke test of the built app (dist/<variant>/trailertagger): run the binary itself, never the
# source tree, on an empty home (no library, no model cache, downloads off: what a new user has).
#
#   packaging/smoke_test.sh [APP_DIR]      (default dist/cpu/trailertagger)
#
# 1. trailertagger --version
# 2. trailertagger extract CLIP --json  (the default profile's bundled models, offline; OCR's
#    detector on the bundled OpenVINO)
# 3. trailertagger gui --smoke-test FOLDER, offscreen: adds the folder, waits for the clip's
#    genres, exports NFO, quits; exit 0 only if the NFO is there.
# Needs a Python with PyAV and numpy to make the clip (the dev venv: PYTHON=.venv/bin/python),
# or CLIP=/path/to/video.mp4.  Exit 0 when all three pass.
set -euo pipefail
cd "$(dirname "$0")/.."
APP=${1:-dist/cpu/trailertagger}
BIN="$APP/trailertagger"
PY=${PYTHON:-.venv/bin/python}
[ -x "$BIN" ] || { echo "no built app at $BIN (scripts/build_dist.sh first)" >&2; exit 2; }
WORK=$(mktemp -d /tmp/tt-smoke.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export TRAILERTAGGER_HOME="$WORK/home" HF_HUB_OFFLINE=1 \
       TRANSFORMERS_OFFLINE=1 QT_QPA_PLATFORM=offscreen
mkdir -p "$WORK/films"
if [ -n "${CLIP:-}" ]; then
  cp "$CLIP" "$WORK/films/"
else
  PYTHONPATH="$PWD" "$PY" -c "
import sys; from pathlib import Path
from trailertagger.devtools import mediagen
mediagen.make_clip(Path(sys.argv[1]) / 'smoke clip.mp4', duration=6.0, size=(320, 240),
                   cuts=[3.0], audio='speech+music', text=[(0.5, 3.0, 'THE LAST NIGHT')], seed=7)
" "$WORK/films"
fi
clip=$(ls "$WORK/films"/* | head -1)
unset PYTHONPATH PYTHONHOME  # the binary must run on what it carries
t0=$(date +%s)
step() { echo "== $*"; }

step "--version"
"$BIN" --version

step "extract (bundled models, offline)"
"$BIN" extract "$clip" --json > "$WORK/extract.json"
grep -q '"ok": true' "$WORK/extract.json" || { cat "$WORK/extract.json"; exit 1; }
"$BIN" models check >/dev/null 2>&1 || echo "(models check reports optional models absent)"
cat "$WORK/extract.json" | head -c 400; echo
# OCR's detector must run on the bundled OpenVINO (a missing plugin would fall back quietly
# to ONNX Runtime: right answers, 2.6x slower OCR)
grep -q "det max side [0-9]* on openvino" "$TRAILERTAGGER_HOME/log/trailertagger.log" || {
  echo "OCR detection did not run on OpenVINO:" >&2
  grep -i "openvino" "$TRAILERTAGGER_HOME/log/trailertagger.log" >&2 || true
  exit 1
}

step "gui --smoke-test (offscreen: add folder, wait for genres, export NFO, quit)"
timeout 900 "$BIN" gui --smoke-test "$WORK/films" --workers 1 --smoke-timeout 600
ls "$WORK/films"/*.nfo >/dev/null
echo "smoke test passed in $(( $(date +%s) - t0 )) s"
