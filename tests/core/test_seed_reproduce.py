"""``reproduce``: the paper-style table end to end on a small synthetic set in the seed format."""

from __future__ import annotations

import numpy as np
import pytest

from tests.core.seed_support import (
    FIXTURES,
    make_samples,
    write_seed_csv,
    write_seed_pickle,
    write_seed_splits,
)
from tests.core.test_seed_heads import _write_checkpoint
from trailertagger.cli.main import main
from trailertagger.core.classify.datasets import load_seed_dataset
from trailertagger.core.classify.metrics import summary
from trailertagger.core.classify.reproduce import HEADLINE, ReproduceConfig, headline, reproduce
from trailertagger.core.classify.runtime import OnnxHead
from trailertagger.core.features.seed_import import import_seed_features
from trailertagger.core.genres import GENRES

pytestmark = pytest.mark.random_weights


@pytest.fixture(scope="module")
def seed_set(tmp_path_factory):
    d = tmp_path_factory.mktemp("repro")
    samples = make_samples(100, seed=11, signal=True)
    import_seed_features(write_seed_pickle(d / "features.pkl", samples), d / "feats")
    write_seed_csv(d / "labels.csv", samples)
    write_seed_splits(d / "splits.json", list(samples))
    rel = d / "zenodo"
    for i, name in enumerate(("mlp", "single_transformer", "multi_transformer")):
        _write_checkpoint(rel, name, name, i)
    return d


def test_random_weights_reproduce_table_trained_and_released(seed_set, tmp_path):
    d = seed_set
    cfg = ReproduceConfig(models=["mlp", "single", "multi"], epochs=2, d_model=16, layers=1,
                          heads=2, batch_size=16, lr=2e-3, device="cpu")
    rep = reproduce(d / "labels.csv", d / "splits.json", d / "feats", released=d / "zenodo",
                    stats=FIXTURES / "stats.json", out=tmp_path / "out", cfg=cfg)
    names = [r.name for r in rep.rows]
    assert names[:3] == ["trailertagger mlp", "trailertagger single", "trailertagger multi"]
    assert sorted(names[3:]) == ["authors' mlp (released)", "authors' multi (released)",
                                 "authors' single (released)"]
    assert rep.n == 20 and all(r.n == 20 for r in rep.rows)
    assert all(len(r.ablation) == 5 for r in rep.rows)
    # the numbers are the metrics of the heads' own outputs on the test split
    ds = load_seed_dataset(d / "labels.csv", d / "splits.json", features_dir=d / "feats")
    tst = ds["tst"]
    fss = [tst[i][0] for i in range(len(tst))]
    for r in rep.rows:
        probs = np.array([[row[g] for g in GENRES] for row in OnnxHead(r.head_dir).predict_many(fss)])
        want = summary(tst.labels, probs)
        np.testing.assert_allclose([r.metrics[k] for k in HEADLINE], [want[k] for k in HEADLINE], atol=1e-5)
    # features carry the labels: the trained MLP beats the label-frequency predictor
    assert rep.rows[0].metrics["macro_map"] > rep.constant_macro_map + 0.1
    table = rep.table()
    assert "P@0.5" in table and "without one modality" in table and "authors' single" in table
    assert headline(rep.rows).shape == (6, 4)


def test_cli_reproduce_prints_the_table(seed_set, tmp_path, capsys):
    d = seed_set
    rc = main(["reproduce", "--data", str(d / "labels.csv"), "--splits", str(d / "splits.json"),
               "--features", str(d / "feats"), "--models", "mlp", "--epochs", "1", "--d-model", "16",
               "--device", "cpu", "--no-ablation", "--json", str(tmp_path / "t.json")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "trailertagger mlp" in out and "mAP" in out
    assert (tmp_path / "t.json").exists()
