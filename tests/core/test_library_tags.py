"""Genre rows: provenance, manual corrections that always win, rejections, re-runs, stale rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from trailertagger.core.genres import GENRES
from trailertagger.core.library.classification import (
    active_head_key,
    note_active_head,
    store_predictions,
)
from trailertagger.core.library.corrections import (
    CorrectionError,
    apply_changes,
    clear_all_manual,
    parse_changes,
    undo,
)
from trailertagger.core.library.db import Library, open_library
from trailertagger.core.library.identity import new_video
from trailertagger.core.library.queries import (
    counts,
    find_videos,
    genre_counts,
    get_video,
    video_ids,
)
from trailertagger.core.library.schema import GenreAssignment, Head, Video

CONFIDENT = {"Horror": 0.95, "Comedy": 0.99, "Drama": 0.1, "Thriller": 0.6}


@pytest.fixture()
def lib(tmp_path: Path):
    with open_library(tmp_path / "lib.sqlite3") as lib:
        yield lib
        assert lib.integrity_check() == []


def _videos(lib: Library, n: int = 3) -> list[int]:
    with lib.session() as s:
        return [new_video(s, f"/films/film {i}.mp4", 100 + i, 1).id for i in range(n)]


def _run(lib: Library, ids: list[int], model: str, version: str = "1",
         probs: dict[str, float] | None = None, thresholds: dict[str, float] | None = None) -> int:
    """What the classify stage does: note the head, store the predictions of each video."""
    with lib.session() as s:
        head, stale = note_active_head(s, model, version, "onnx")
        for vid in ids:
            store_predictions(s, s.get(Video, vid), head, probs or CONFIDENT, thresholds)
    return stale


def _rec(lib: Library, vid: int):
    with lib.read() as s:
        return get_video(s, vid)


def test_parse_changes() -> None:
    ch = parse_changes(["+horror", "-Comedy", "=sci fi"])
    assert [(c.op, c.genre) for c in ch] == [("+", "Horror"), ("-", "Comedy"), ("=", "Sci-Fi")]
    with pytest.raises(CorrectionError, match="unknown genre 'Hororr'"):
        parse_changes(["+Hororr"])
    with pytest.raises(CorrectionError, match=r"\+Genre to add"):
        parse_changes(["Horror"])


def test_predictions_store_all_genres_with_provenance(lib: Library) -> None:
    (vid,) = _videos(lib, 1)
    _run(lib, [vid], "multi-abc", "v7", thresholds={"Thriller": 0.7})
    rec = _rec(lib, vid)
    assert rec.status == "ready" and rec.model_id == "multi-abc" and rec.model_version == "v7"
    assert set(rec.states) == set(GENRES)
    assert rec.genres == ("Comedy", "Horror")  # Thriller 0.6 < its own threshold 0.7
    h = rec.states["Horror"]
    assert (h.source, h.probability, h.threshold, h.model_id) == ("auto", 0.95, 0.5, "multi-abc")
    assert rec.states["Thriller"].threshold == 0.7 and not rec.states["Thriller"].on
    with lib.read() as s:
        assert s.query(GenreAssignment).count() == 21
        assert s.execute(select(Head.kind)).scalar_one() == "onnx"


def test_manual_correction_survives_rerun_and_model_change(lib: Library) -> None:
    ids = _videos(lib)
    _run(lib, ids, "m1")
    apply_changes(lib, ids[:1], parse_changes(["-Comedy", "+War"]))
    assert lib.integrity_check() == []
    for step in ("rerun", "model change", "model change back"):
        model = {"rerun": "m1", "model change": "m2", "model change back": "m1"}[step]
        _run(lib, ids, model, probs={"Comedy": 1.0, "War": 0.0, "Horror": 0.9})
        assert lib.integrity_check() == []
        rec = _rec(lib, ids[0])
        assert "Comedy" not in rec.genres, step  # the rejection holds however sure the model is
        assert "War" in rec.genres, step  # the addition holds at probability 0
        assert rec.states["Comedy"].probability == 1.0  # the model's view is still visible
        assert _rec(lib, ids[1]).genres == ("Comedy", "Horror")  # uncorrected: the model decides
    with lib.read() as s:
        # re-runs replaced auto rows only: one manual row per correction, 21 auto per video
        manual = s.query(GenreAssignment).filter(GenreAssignment.source == "manual").all()
        assert sorted((m.genre, m.rejected) for m in manual) == [("Comedy", True), ("War", False)]
        assert s.query(GenreAssignment).filter(GenreAssignment.source == "auto").count() == 63


def test_rejected_genre_never_comes_back_in_filters_or_counts(lib: Library) -> None:
    ids = _videos(lib)
    _run(lib, ids, "m1")
    apply_changes(lib, [ids[0]], parse_changes(["-Horror"]))
    _run(lib, ids, "m2", probs={"Horror": 1.0})
    with lib.read() as s:
        assert video_ids(s, genres=["horror"]) == ids[1:]
        assert genre_counts(s)["Horror"] == 2
        assert [r.id for r in find_videos(s, genres=["Horror"], corrected=True)] == []
        assert [r.id for r in find_videos(s, corrected=True)] == [ids[0]]


def test_model_change_marks_old_predictions_stale_until_rerun(lib: Library) -> None:
    ids = _videos(lib)
    assert _run(lib, ids, "m1") == 0
    with lib.read() as s:
        assert active_head_key(s) == ("m1", "1")
    # a new head classifies only the first video so far
    assert _run(lib, ids[:1], "m2") == 63
    assert not _rec(lib, ids[0]).stale
    assert _rec(lib, ids[1]).stale and _rec(lib, ids[1]).model_id == "m1"
    with lib.read() as s:
        assert counts(s).stale == 2
    # a re-run of the same head changes nothing; a version bump is a model change too
    assert _run(lib, ids[1:], "m2") == 0
    with lib.read() as s:
        assert counts(s).stale == 0
    assert _run(lib, ids[:1], "m2", version="2") == 63
    assert _rec(lib, ids[2]).stale


def test_corrections_undo_and_reset(lib: Library) -> None:
    ids = _videos(lib, 2)
    _run(lib, ids, "m1")
    e1 = apply_changes(lib, ids, parse_changes(["+War", "-Horror"]))
    assert e1.changed == 4
    e2 = apply_changes(lib, ids[:1], parse_changes(["-War", "=Horror"]))
    assert e2.changed == 2
    rec = _rec(lib, ids[0])
    assert rec.manual_off == ("War",) and "Horror" in rec.genres and rec.states["Horror"].source == "auto"
    undo(lib, e2)
    rec = _rec(lib, ids[0])
    assert rec.manual_on == ("War",) and rec.manual_off == ("Horror",)
    # applying the same change again changes nothing
    assert apply_changes(lib, ids[:1], parse_changes(["+War"])).changed == 0
    e3 = clear_all_manual(lib, ids)
    assert e3.changed == 4 and not _rec(lib, ids[1]).corrected
    undo(lib, e3)
    assert _rec(lib, ids[1]).manual_on == ("War",)
    undo(lib, e1)
    assert not _rec(lib, ids[0]).corrected and not _rec(lib, ids[1]).corrected
    assert lib.integrity_check() == []


def test_correction_before_any_prediction(lib: Library) -> None:
    (vid,) = _videos(lib, 1)
    apply_changes(lib, [vid], parse_changes(["+Animation", "-Horror"]))
    rec = _rec(lib, vid)
    assert rec.status == "pending" and rec.genres == ("Animation",)
    assert rec.states["Animation"].probability is None
    _run(lib, [vid], "m1")
    assert _rec(lib, vid).genres == ("Animation", "Comedy", "Thriller")


def test_all_or_nothing_corrections(lib: Library) -> None:
    ids = _videos(lib, 2)
    with pytest.raises(Exception), lib.session() as s:  # noqa: B017 - any DB error
        from trailertagger.core.library.corrections import apply_changes_in

        apply_changes_in(s, ids, parse_changes(["+War"]))
        s.add(GenreAssignment(video_id=ids[0], genre="War", source="manual", positive=True,
                              rejected=False, stale=False, created_at=0.0))
        s.flush()  # duplicate (video, genre, source): the whole edit rolls back
    assert not _rec(lib, ids[0]).corrected and not _rec(lib, ids[1]).corrected


def test_deleting_a_video_removes_its_rows(lib: Library) -> None:
    ids = _videos(lib, 2)
    _run(lib, ids, "m1")
    apply_changes(lib, ids, parse_changes(["+War"]))
    with lib.session() as s:
        s.delete(s.get(Video, ids[0]))
    with lib.read() as s:
        assert {a.video_id for a in s.query(GenreAssignment)} == {ids[1]}


def test_genre_counts_agree_with_the_genre_filter(lib: Library) -> None:
    import random

    rnd = random.Random(3)
    ids = _videos(lib, 40)
    with lib.session() as s:
        head, _ = note_active_head(s, "m1", "1")
        for vid in ids:
            store_predictions(s, s.get(Video, vid), head, {g: rnd.random() for g in GENRES})
    for vid in ids[::3]:
        ops = [rnd.choice("+-=") + rnd.choice(GENRES) for _ in range(3)]
        apply_changes(lib, [vid], parse_changes(ops))
    with lib.session() as s:
        from trailertagger.core.library.identity import mark_missing

        mark_missing(s, [s.get(Video, vid) for vid in ids[::7]])
    with lib.read() as s:
        expected = {g: len(video_ids(s, genres=[g], missing=False)) for g in GENRES}
        assert genre_counts(s) == expected
        assert sum(expected.values()) > 100


def test_job_queries(lib: Library) -> None:
    from trailertagger.core.library.queries import job_counts, job_history, jobs
    from trailertagger.core.library.schema import Job, JobEventRow

    ids = _videos(lib, 2)
    with lib.session() as s:
        for vid, status, t in ((ids[0], "failed", 5.0), (ids[1], "queued", 9.0)):
            job = Job(video_id=vid, kind="process", stages="extract,classify", stage="extract",
                      status=status, created_at=1.0, updated_at=t,
                      error_reason="cannot decode the video" if status == "failed" else None)
            s.add(job)
            s.flush()
            s.add(JobEventRow(job_id=job.id, time=t, event=status, stage="extract",
                              message=job.error_reason))
    with lib.read() as s:
        recent = jobs(s)
        assert [j.status for j in recent] == ["queued", "failed"]  # newest first
        assert recent[0].stages == ("extract", "classify") and recent[1].path == "/films/film 0.mp4"
        assert [j.error_reason for j in jobs(s, status="failed")] == ["cannot decode the video"]
        assert jobs(s, limit=0) == [] and len(jobs(s, limit=None)) == 2  # 0 is none, not all
        assert job_counts(s) == {("failed", "extract"): 1, ("queued", "extract"): 1}
        assert job_history(s, recent[1].id) == [(5.0, "failed", "extract", "cannot decode the video")]


def test_changes_apply_in_order_on_many_videos(lib: Library) -> None:
    ids = _videos(lib, 1200)
    _run(lib, ids[:10], "m1")
    apply_changes(lib, ids[:5], parse_changes(["-Horror"]))
    seen: list[int] = []
    with lib.session() as s:
        from trailertagger.core.library.corrections import apply_changes_in

        edit = apply_changes_in(s, ids + ids[:3], parse_changes(["=Horror", "+Horror", "-War"]),
                                progress=lambda stage, done, total: seen.append((done, total)))
    assert [done for done, _ in seen] == [1000, 1200] and {t for _, t in seen} == {1200}
    assert edit.changed == 5 + 1200 + 1200  # 5 rejections cleared, then added; War rejected
    rec = _rec(lib, ids[0])
    assert rec.manual_on == ("Horror",) and rec.manual_off == ("War",)
    with lib.read() as s:
        assert s.query(GenreAssignment).filter(GenreAssignment.source == "manual").count() == 2400
    undo(lib, edit)
    assert _rec(lib, ids[0]).manual_off == ("Horror",) and _rec(lib, ids[6]).corrected is False
    assert lib.integrity_check() == []
