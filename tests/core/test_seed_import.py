"""``import-features``: the seed authors' features.pkl in, feature files out, no pickle code run."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from tests.core.seed_support import (
    make_samples,
    numpy_stats,
    real_stats,
    write_seed_csv,
    write_seed_pickle,
    write_seed_splits,
)
from trailertagger.cli.main import main
from trailertagger.core.classify.datasets import load_seed_dataset
from trailertagger.core.features.cache import FeatureCache
from trailertagger.core.features.safe_pickle import UnsafePickleError, safe_load
from trailertagger.core.features.seed_format import PROVENANCE, SEED_TO_MODALITY, read_stats
from trailertagger.core.features.seed_import import import_seed_features


class _RunsCommand:
    """A pickle payload whose loading would run ``touch <marker>``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


class _Evals:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (eval, (f"open({self.marker!r}, 'w').close()",))


@pytest.fixture(scope="module")
def seed_pickle(tmp_path_factory):
    d = tmp_path_factory.mktemp("seed")
    samples = make_samples(300, seed=3)
    return write_seed_pickle(d / "features.pkl", samples), samples


def test_import_writes_every_trailer_with_provenance(seed_pickle, tmp_path):
    path, samples = seed_pickle
    report = import_seed_features(path, tmp_path / "feats")
    assert report.videos == report.imported == 300 and not report.problems
    assert report.labelled == 300
    # counts per modality agree with what the file holds
    for seed, name in SEED_TO_MODALITY.items():
        with_rows = sum(1 for s in samples.values() if len(s["features"][seed]))
        assert report.rows[name] == with_rows
        assert report.empty[name] == 300 - with_rows
    assert report.stats == real_stats()
    cache = FeatureCache(tmp_path / "feats")
    key = sorted(samples)[7]
    fs = cache.load(f"seed:{key}")
    assert fs is not None
    for seed, name in SEED_TO_MODALITY.items():
        m = fs.modalities[name]
        assert m.extractor == PROVENANCE
        ref = samples[key]["features"][seed]
        if len(ref):
            np.testing.assert_array_equal(m.values, np.asarray(ref, dtype=np.float32))
        else:
            assert m.length == 0 and m.dim == (512 if seed == "clip" else 768)
    assert "1 trailer" not in report.format()
    assert read_stats(tmp_path / "feats" / "seed_stats.json") == real_stats()


def test_imported_folder_is_read_by_the_seed_dataset_reader(seed_pickle, tmp_path):
    path, samples = seed_pickle
    import_seed_features(path, tmp_path / "feats")
    csv = write_seed_csv(tmp_path / "labels.csv", samples)
    splits = write_seed_splits(tmp_path / "splits.json", list(samples))
    ds = load_seed_dataset(csv, tmp_path / "splits.json", features_dir=tmp_path / "feats")
    assert {s: len(ds[s]) for s in ("trn", "val", "tst")} == {s: len(v) for s, v in splits.items()}
    fs, y = ds["tst"][0]
    key = ds["tst"].keys[0]
    np.testing.assert_array_equal(y, samples[key]["label"])
    assert set(fs.modalities) == set(SEED_TO_MODALITY.values())


def test_torch_tensors_and_protocol_2_pickles_are_admitted(tmp_path):
    samples = make_samples(4, seed=1)
    for s in samples.values():
        s["features"]["clip"] = torch.from_numpy(np.asarray(s["features"]["clip"]))
    path = write_seed_pickle(tmp_path / "f.pkl", samples, protocol=2)
    report = import_seed_features(path, tmp_path / "out")
    assert report.imported == 4 and not report.problems


@pytest.mark.parametrize("payload", [_RunsCommand, _Evals])
def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path, payload):
    marker = tmp_path / "pwned"
    samples = make_samples(3, seed=2)
    first = sorted(samples)[0]
    samples[first]["features"]["clip"] = payload(marker)
    path = write_seed_pickle(tmp_path / "features.pkl", samples)
    with pytest.raises(UnsafePickleError, match="refused") as err:
        import_seed_features(path, tmp_path / "out")
    assert ("system" in str(err.value)) or ("builtins.eval" in str(err.value))
    assert not marker.exists()
    assert not (tmp_path / "out").exists()  # nothing written either


def test_cli_import_features_and_malicious_exit_code(seed_pickle, tmp_path, capsys):
    path, _ = seed_pickle
    assert main(["import-features", str(path), "--out", str(tmp_path / "f")]) == 0
    out = capsys.readouterr().out
    assert "300 of 300 trailers imported" in out and "seed_beats" in out
    marker = tmp_path / "marker"
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(pickle.dumps({"samples": {"x": _RunsCommand(marker)}}))
    assert main(["import-features", str(bad), "--out", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err
    assert "refused" in err and "system" in err
    assert not marker.exists()


def test_bad_entries_are_reported_one_each(tmp_path):
    samples = make_samples(5, seed=4)
    keys = sorted(samples)
    samples[keys[0]]["features"]["beats"] = np.zeros((3, 100), dtype=np.float32)  # wrong dim
    samples[keys[1]]["features"]["audio_x"] = np.zeros((3, 768), dtype=np.float32)  # unknown
    report = import_seed_features(write_seed_pickle(tmp_path / "f.pkl", samples), tmp_path / "o")
    assert report.imported == 3 and len(report.problems) == 2
    assert "beats: shape (3, 100)" in report.problems[0]
    assert "unknown feature(s) audio_x" in report.problems[1]


def test_torch_zip_and_garbage_are_refused_clearly(tmp_path):
    z = tmp_path / "stats.pt"
    torch.save(numpy_stats(), z)
    with pytest.raises(UnsafePickleError, match="torch.load"):
        safe_load(z)
    g = tmp_path / "g.pkl"
    g.write_bytes(b"\x80\x04not a pickle at all")
    with pytest.raises(UnsafePickleError, match="not a readable pickle"):
        safe_load(g)


def test_stats_pt_in_their_format_reads_with_weights_only(tmp_path):
    z = tmp_path / "stats.pt"
    torch.save(numpy_stats(), z)  # what their extract_features.py saves: numpy float32 scalars
    assert read_stats(z) == real_stats()
