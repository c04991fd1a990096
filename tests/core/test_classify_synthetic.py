"""Planted-signal data: the properties the benchmark's claims rest on."""

from __future__ import annotations

import numpy as np
import pytest

from trailertagger.core.classify.metrics import macro_map
from trailertagger.core.genres import GENRE_INDEX, GENRES
from trailertagger.devtools.synthetic import (
    MOVIENET_PREVALENCE,
    PlantedData,
    genre_correlation,
    make_task,
)


def test_labels_have_movienet_prevalence_and_cooccurrence() -> None:
    data = PlantedData(make_task("spread"), 6000, seed=0)
    freq = data.labels.mean(0)
    for g in ("Drama", "Comedy", "Thriller", "Western"):
        assert freq[GENRE_INDEX[g]] == pytest.approx(MOVIENET_PREVALENCE[g], rel=0.2, abs=0.01)
    y = data.labels
    lift = (y[:, GENRE_INDEX["Crime"]] * y[:, GENRE_INDEX["Thriller"]]).mean() / (
        freq[GENRE_INDEX["Crime"]] * freq[GENRE_INDEX["Thriller"]])
    assert lift > 1.5  # Crime and Thriller go together
    assert np.linalg.eigvalsh(genre_correlation()).min() > 0
    assert len(MOVIENET_PREVALENCE) == len(GENRES)


@pytest.mark.parametrize("name", ["event", "order"])
def test_event_evidence_vanishes_in_the_time_mean(name: str) -> None:
    data = PlantedData(make_task(name), 40, seed=1)
    v = np.concatenate([data.order_basis, data.pair_basis], axis=1)
    for i in range(40):
        x = data[i][0]["image"].astype(np.float64)
        assert np.abs(x.mean(0) @ v).max() < 1e-4  # averaging sees nothing of the events
        assert np.abs(x @ v).max() > 0.1  # but individual rows carry them
    bayes = data.bayes_probs()
    assert bayes.shape == (40, len(GENRES)) and ((bayes >= 0) & (bayes <= 1)).all()


def test_bayes_beats_constant_and_missing_modalities_follow_rates() -> None:
    data = PlantedData(make_task("missing"), 800, seed=2)
    assert 0.4 < data.is_missing["audio"].mean() < 0.6 and 0.2 < data.is_missing["music"].mean() < 0.4
    x, _ = data[int(np.nonzero(data.is_missing["audio"])[0][0])]
    assert "audio" not in x
    const = np.tile(data.labels.mean(0), (len(data), 1))
    assert macro_map(data.labels, data.bayes_probs()) > macro_map(data.labels, const) + 0.3


def test_task_that_cannot_hold_its_events_is_refused() -> None:
    from dataclasses import replace

    task = make_task("event")
    with pytest.raises(ValueError, match="events"):
        PlantedData(replace(task, lengths={**task.lengths, "image": (10, 20)}), 4)
