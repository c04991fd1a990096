"""Re-fit the zero-shot head's calibration on the labelled cold-start set.

``python -m trailertagger.devtools.calibrate_zero_shot [--clips DIR] [--write]``

Makes the cold-start clips (``devtools/coldstart_set``; reused when present), extracts
them with the default profile (cached by content), fits the calibration
(``core/classify/zero_shot_calibration``) and prints it; ``--write`` stores it as
``trailertagger/resources/zero_shot_calibration.json`` (which changes the head's version, so
the library marks older cold-start predictions stale).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from importlib import resources
from pathlib import Path

ABOUT = ("Calibration of the zero-shot head, fitted by trailertagger.devtools.calibrate_zero_shot "
         "on the labelled cold-start set (devtools/coldstart_set.py: title card + espeak-ng "
         "voice-over + sox music, default extraction profile). 'scale' is the log-odds per unit "
         "of similarity margin per source (maximum likelihood, L2-penalised, prior as offset); "
         "'threshold' (probability) and 'min_lift' (log-odds over the prior) are the decision "
         "rule with the best cross-validated micro-F1 at most max_genres per clip; "
         "'borrowed_scale' lists sources absent from the set, which use the story scale; "
         "'measured' is the cross-validated quality. The set is written by this project, so "
         "the numbers are optimistic for real trailers, whose words say less.")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", type=Path,
                   default=Path(tempfile.gettempdir()) / "trailertagger-coldstart-clips")
    p.add_argument("--write", action="store_true", help="write the resource file")
    args = p.parse_args(argv)

    import numpy as np

    from ..core.classify.zero_shot import ZeroShotHead
    from ..core.classify.zero_shot_calibration import evidence_rows, fit_calibration
    from ..core.models.store import ModelStore
    from . import coldstart_set as cs

    fss = cs.extract_all(cs.make_clips(args.clips))
    head = ZeroShotHead(ModelStore.from_config({}))
    x = evidence_rows(head, fss)
    doc = {"_about": ABOUT, **fit_calibration(x, cs.labels_matrix(), head.priors)}
    text = json.dumps(doc, indent=1, default=float) + "\n"
    print(text)
    if args.write:
        dest = Path(str(resources.files("trailertagger") / "resources" / "zero_shot_calibration.json"))
        dest.write_text(text, encoding="utf-8")
        print(f"wrote {dest}", file=sys.stderr)
    del np
    return 0


if __name__ == "__main__":
    sys.exit(main())
