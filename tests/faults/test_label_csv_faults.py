"""Hostile label CSVs for ``train --simple-csv`` (issue 9, case 9).

Before: paths were not confined to the CSV's folder (``../outside/b.mp4``, absolute paths
and ``/dev/zero`` were read), and one such row stopped the run with exit 3 and no line
number.  Now each bad row is listed with its line number and skipped; training goes on.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from trailertagger.cli.main import main
from trailertagger.core.classify.datasets import load_simple_dataset
from trailertagger.core.features.io import save_featureset
from trailertagger.core.features.types import FeatureSet, ModalityFeatures

GENRES3 = ("Drama", "Comedy", "Horror")


def hostile_set(tmp_path: Path) -> tuple[Path, Path, dict[str, int], dict[str, str]]:
    """30 good rows (with feature files) and one hostile row per kind; returns the CSV, the
    features folder, each bad row's line number and the reason expected for it."""
    root = tmp_path / "set"
    feats = root / "features"
    feats.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "b.mp4").write_bytes(b"private bytes outside the data set")
    rng = np.random.default_rng(0)
    rows = ["path,genres"]
    for i in range(30):
        img = rng.normal(size=(4, 8)).astype(np.float32)
        img[:, i % 3] += 1.5
        mods = {"image": ModalityFeatures("image", img, np.arange(4), "image.t", "1", "w", "")}
        save_featureset(feats / f"clip{i}.npz", FeatureSet(f"clip{i}", 10.0, mods))
        rows.append(f"videos/clip{i}.mp4,{GENRES3[i % 3]}")
    (root / "sub").mkdir()
    (root / "zero.mp4").symlink_to("/dev/zero")
    (root / "leak.mp4").symlink_to(outside / "b.mp4")
    os.mkfifo(root / "pipe.mp4")
    (root / "garbage.mp4").write_bytes(b"\x00not a video at all" * 100)
    bad = {
        "../outside/b.mp4": "leaves the CSV's folder",
        str(outside / "b.mp4"): "absolute path",
        "/dev/zero": "absolute path",
        "zero.mp4": "outside the CSV's folder",
        "leak.mp4": "outside the CSV's folder",
        "pipe.mp4": "not a regular file",
        "sub": "not a regular file",
        "garbage.mp4": "cannot use the video",
    }
    lines: dict[str, int] = {}
    for path, _why in bad.items():
        rows.append(f"{path},Horror")
        lines[path] = len(rows)  # the header is line 1
    (root / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root / "labels.csv", feats, lines, bad


def test_bad_rows_are_listed_with_line_numbers_and_skipped(tmp_path):
    csv_path, feats, info, why = hostile_set(tmp_path)
    ds = load_simple_dataset(csv_path, feats)
    assert ds.report.kept == 30
    problems = {p.key: p for p in ds.report.problems}
    for path, line in info.items():
        assert problems[path].row == line, path
        assert why[path] in problems[path].reason, (path, problems[path].reason)
    assert sum(len(v) for v in ds.splits.values()) == 30


def test_train_with_hostile_rows_trains_on_the_rest(tmp_path, capsys):
    csv_path, feats, info, _ = hostile_set(tmp_path)
    rc = main(["train", "--simple-csv", str(csv_path), "--features", str(feats), "--model", "mlp",
               "--epochs", "2", "--out", str(tmp_path / "run"), "--no-export"])
    err = capsys.readouterr().err
    assert rc == 0, err  # never exit 3 for one row
    for path, line in info.items():
        assert f"row {line}: {path}:" in err, (path, err)
    assert "30 of 38 rows usable" in err
