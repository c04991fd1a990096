"""CLI end to end on a tiny feature set in a tmp dir: train, evaluate, export-onnx, heads.

The features are FeatureSet files in the seed authors' layout (labels CSV with list literals,
splits JSON, ``<youtube_id>.npz``) with a planted, learnable cue, so every command does real
work: training must beat the constant predictor, the exported head must load and predict.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from trailertagger.cli.main import main
from trailertagger.core.features.io import save_featureset
from trailertagger.core.features.types import FeatureSet, ModalityFeatures
from trailertagger.core.genres import GENRES

CUE_GENRES = ("Drama", "Comedy", "Horror")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny set ü")
    feats = root / "features"
    feats.mkdir()
    rng = np.random.default_rng(0)
    rows, ids = [], []
    for i in range(90):
        key = f"yt{i:03d}"
        g = CUE_GENRES[i % 3]
        t_img, t_aud = int(rng.integers(3, 12)), int(rng.integers(2, 8))
        img = rng.normal(size=(t_img, 8)).astype(np.float32)
        img[:, i % 3] += 1.5  # the cue
        aud = rng.normal(size=(t_aud, 5)).astype(np.float32)
        mods = {"image": ModalityFeatures("image", img, np.arange(t_img), "image.t", "1", "img-w", ""),
                "audio": ModalityFeatures("audio", aud, np.arange(t_aud), "audio.t", "1", "aud-w", "")}
        if i % 7 == 0:
            del mods["audio"]  # some videos without audio
        save_featureset(feats / f"{key}.npz", FeatureSet(key, 30.0, mods, profile="default"))
        rows.append(f'tt{i},{key},"[\'{g}\']",Film {i},100')
        ids.append(key)
    rows.append('tt999,yt999,"[\'Drama\', \'Noir\']",Bad genre,100')  # reported, skipped
    (root / "labels.csv").write_text("imdb_id,youtube_id,genres,title,duration\n" + "\n".join(rows) + "\n",
                                     encoding="utf-8")
    (root / "splits.json").write_text(json.dumps({"trn": ids[:60], "val": ids[60:75], "tst": ids[75:]}),
                                      encoding="utf-8")
    return {"root": root, "csv": root / "labels.csv", "splits": root / "splits.json", "features": feats}


def _data_args(d) -> list[str]:
    return ["--data", str(d["csv"]), "--splits", str(d["splits"]), "--features", str(d["features"])]


def test_train_evaluate_export_heads(dataset, tmp_path, capsys) -> None:
    out, head = tmp_path / "run", tmp_path / "head"
    rc = main(["train", *_data_args(dataset), "--model", "single", "--epochs", "4", "--d-model", "16",
               "--layers", "1", "--heads", "2", "--lr", "0.003", "--out", str(out), "--head-out", str(head),
               "--activate"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "row 92: yt999: unknown genre(s) 'Noir'" in cap.err
    assert "trained single head" in cap.out and "activated" in cap.out
    assert (head / "model.onnx").exists() and (head / "card.json").exists()
    card = json.loads((head / "card.json").read_text())
    assert card["modalities"][1]["extractor"] == "image.t" and card["training"]["n_train"] == 60

    # evaluate the ONNX head on the test split, with CSV/JSON output and the modality ablation
    csv_path, json_path = tmp_path / "eval.csv", tmp_path / "eval.json"
    rc = main(["evaluate", *_data_args(dataset), "--head", str(head), "--csv", str(csv_path),
               "--json", str(json_path)])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "macro mAP" in cap.out and "without" in cap.out and "Horror" in cap.out
    report = json.loads(json_path.read_text())
    assert report["n"] == 15 and len(report["per_genre"]) == len(GENRES)
    assert report["metrics"]["macro_map"] > report["constant_macro_map"] + 0.2
    abl = {r["modality"]: r for r in report["ablation"]}
    assert abl["image"]["delta"] < -0.1  # the cue lives in the image modality
    assert "ALL (macro)" in csv_path.read_text()

    # the torch checkpoint gives the same numbers as its ONNX export
    rc = main(["evaluate", *_data_args(dataset), "--checkpoint", str(out), "--json", str(tmp_path / "t.json"),
               "--no-ablation"])
    assert rc == 0
    torch_report = json.loads((tmp_path / "t.json").read_text())
    assert torch_report["metrics"]["macro_map"] == pytest.approx(report["metrics"]["macro_map"], abs=1e-4)

    # the label-free head runs on the same split (no text or tags here: it returns the priors)
    rc = main(["evaluate", *_data_args(dataset), "--zero-shot", "--no-ablation", "--json",
               str(tmp_path / "z.json")])
    assert rc == 0
    z = json.loads((tmp_path / "z.json").read_text())
    assert z["head"] == "zero-shot" and z["metrics"]["macro_map"] == pytest.approx(z["constant_macro_map"])

    # export again from the checkpoint; list and switch heads
    rc = main(["export-onnx", "--checkpoint", str(out), "--out", str(tmp_path / "head2")])
    assert rc == 0 and (tmp_path / "head2" / "model.onnx").exists()
    capsys.readouterr()
    assert main(["heads", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    active = [r for r in rows if r["active"]]
    assert len(active) == 1 and active[0]["arch"] == "single"
    assert main(["heads", "activate", "zero-shot"]) == 0
    assert "zero-shot" in capsys.readouterr().out
    assert main(["heads", "activate", active[0]["model_id"]]) == 0
    assert main(["heads", "activate", "no-such-head"]) == 2


def test_usage_errors_exit_2(dataset, tmp_path, capsys) -> None:
    assert main(["train", "--epochs", "1"]) == 2  # no data
    assert "no data" in capsys.readouterr().err
    assert main(["train", "--data", str(dataset["csv"])]) == 2  # no features folder
    assert main(["train", *_data_args(dataset), "--pos-weight", "lots"]) == 2
    assert main(["train", *_data_args(dataset), "--max-len", "image=x"]) == 2
    assert main(["export-onnx", "--checkpoint", str(tmp_path / "nothing")]) == 2
    assert main(["evaluate", *_data_args(dataset), "--head", str(tmp_path / "nothing")]) == 2
    assert main(["heads"]) == 2


def test_train_resumes_in_same_folder(dataset, tmp_path, capsys) -> None:
    args = ["train", *_data_args(dataset), "--model", "mlp", "--out", str(tmp_path / "run"), "--no-export"]
    assert main([*args, "--epochs", "2"]) == 0
    assert main([*args, "--epochs", "3"]) == 0  # continues: only epoch 3 runs
    hist = json.loads((tmp_path / "run" / "result.json").read_text())["history"]
    assert [h["epoch"] for h in hist] == [0, 1, 2]
    assert main([*args, "--epochs", "3", "--lr", "0.01"]) == 2  # other settings: refused
    assert "other settings" in capsys.readouterr().err
