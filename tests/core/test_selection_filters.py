"""Issue 11: the view's filter rules in the application layer, usable by both front ends."""

from __future__ import annotations

import pytest

from tests.gui.support import fill
from trailertagger.core.app import LibrarySession, Selection
from trailertagger.core.errors import ConfigError
from trailertagger.core.genres import GENRES
from trailertagger.core.library.classification import note_active_head, store_predictions
from trailertagger.core.library.corrections import apply_changes, parse_changes
from trailertagger.core.library.db import open_library
from trailertagger.core.library.identity import new_video
from trailertagger.core.library.schema import Video


@pytest.fixture()
def app(tmp_path):
    lib = open_library(tmp_path / "library.sqlite3")
    yield LibrarySession(lib, sync_head=False)
    lib.close()


def _ids(app, **kw) -> set[int]:
    return set(app.ids(Selection(**kw)))


def test_any_all_matching_and_counts_follow_the_filter(app) -> None:
    ids = fill(app.lib, 42)  # video i: GENRES[i % 21] and GENRES[(i + 5) % 21] on
    a, b = GENRES[0], GENRES[5]  # video 0 (and 21) have both; 16, 37 have a; 5, 26 have b...
    both = _ids(app, genres=(a, b))
    either = _ids(app, genres=(a, b), match="any")
    only_a, only_b = _ids(app, genres=(a,)), _ids(app, genres=(b,))
    assert both == only_a & only_b and either == only_a | only_b
    assert both and both < either
    with pytest.raises(ConfigError):
        app.ids(Selection(genres=(a,), match="some"))
    # counts within the filter: "all" counts inside the chosen genres, "any" beside them
    within_a = app.genre_counts(Selection(genres=(a,)))
    assert within_a[a] == len(only_a) and within_a[b] == len(both)
    assert sum(within_a.values()) == 2 * len(only_a)  # each video has two genres
    everything = app.genre_counts()
    assert app.genre_counts(Selection(genres=(a, b), match="any")) == everything
    searched = app.genre_counts(Selection(text="film 0000"))  # videos 0-9
    assert sum(searched.values()) == 20 and searched != everything
    assert len(ids) == 42


def test_probability_threshold_counts_near_misses_and_respects_corrections(app) -> None:
    with app.lib.session() as s:
        head, _ = note_active_head(s, "h", "1", "onnx")
        made = []
        for i, p in enumerate((0.05, 0.35, 0.6, 0.9)):
            v = new_video(s, f"/f/v{i}.mp4", 10 + i, 1)
            store_predictions(s, s.get(Video, v.id), head,
                              {g: (p if g == "Horror" else 0.0) for g in GENRES},
                              thresholds={g: 0.5 for g in GENRES})
            made.append(v.id)
    assert _ids(app, genres=("Horror",)) == set(made[2:])
    assert _ids(app, genres=("Horror",), min_probability=0.3) == set(made[1:])
    assert _ids(app, genres=("Horror",), min_probability=0.8) == {made[3]}
    # a hand-made "-Horror" wins over any probability; "+Horror" counts at any threshold
    apply_changes(app.lib, [made[3]], parse_changes(["-Horror"]))
    apply_changes(app.lib, [made[0]], parse_changes(["+Horror"]))
    assert _ids(app, genres=("Horror",), min_probability=0.3) == {made[0], made[1], made[2]}


def test_state_filters_queued_unclassified_cold_start(app) -> None:
    ids = fill(app.lib, 5)
    with app.lib.session() as s:
        fresh = new_video(s, "/f/new.mp4", 1, 1).id  # never classified
        s.get(Video, ids[1]).evidence_state = "cold start"
        s.get(Video, ids[2]).evidence_state = "weak evidence"
    assert _ids(app, unclassified=True) == {fresh}
    assert _ids(app, cold_start=True) == {ids[1], ids[2]}
    assert _ids(app, queued=True) == set()
    app.rerun(Selection.of_ids([ids[0]]))
    assert _ids(app, queued=True) == {ids[0]}
    rows = app.applicable([ids[0], ids[3]])
    assert (rows.present, rows.active, rows.corrected, rows.missing) == (2, 1, 0, 0)
    assert rows.reason("cancel") == "" and rows.reason("erase") and rows.reason("clear")


def test_genre_summary_by_ids_or_by_selection(app) -> None:
    ids = fill(app.lib, 30)
    by_ids = app.genre_summary(ids[:10])
    assert sum(by_ids.values()) == 20 and max(by_ids.values()) <= 10
    assert app.genre_summary(Selection(text="film 0000")) == by_ids  # videos 0-9
    assert app.genre_summary(Selection()) == app.genre_summary(ids)


def test_bulk_reads_in_batches_return_what_one_read_returns(app, monkeypatch) -> None:
    """``rows``, ``genre_text`` and ``genre_probabilities`` make their rows a batch at a time
    (issue 11: one ``all()`` held the GIL for up to half a second); same rows, same order."""
    from trailertagger.core.library import queries

    ids = fill(app.lib, 30)
    apply_changes(app.lib, [ids[1]], parse_changes(["+War"]))  # a manual genre too
    whole = (app.rows(), app.genre_text(), app.genre_probabilities("Horror"),
             app.genre_text(Selection(genres=("Horror",))))
    with app.lib.read() as s:
        q = queries.video_query().with_only_columns(Video.id, Video.path).order_by(Video.path)
        assert list(queries.bulk_rows(s, q, batch=3)) == s.execute(q).all()
    monkeypatch.setattr(queries, "BULK_BATCH", 3)
    batched = (app.rows(), app.genre_text(), app.genre_probabilities("Horror"),
               app.genre_text(Selection(genres=("Horror",))))
    assert [r.id for r in batched[0]] == [r.id for r in whole[0]] and len(whole[0]) > 3
    assert batched[1:] == whole[1:] and whole[1] and whole[2]
