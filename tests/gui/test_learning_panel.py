"""The app's side of issue 8: the active head and its measured quality, "cold start" on
unconfirmed videos, explanations, the "needs review" filter, and the Train button."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from trailertagger.core.genres import GENRES
from trailertagger.core.jobs.worker import PoolOptions
from trailertagger.core.library.classification import note_active_head, store_predictions
from trailertagger.core.library.identity import new_video
from trailertagger.core.library.labels import set_metadata_labels
from trailertagger.core.library.schema import Video


def _cold_library(lib) -> dict[str, int]:  # noqa: ANN001
    """A cold-start video, a weak-evidence one, one labelled by metadata, one trained."""
    ids = {}
    with lib.session() as s:
        zs, _ = note_active_head(s, "zero-shot", "2-x", "zero-shot")
        for name, on, state, p in (("horror", ["Horror"], "cold start", 0.6),
                                   ("bunny", [], "weak evidence", 0.2),
                                   ("alien", [], "weak evidence", 0.2)):
            v = new_video(s, f"/films/{name}.mp4", 1, 1)
            store_predictions(s, s.get(Video, v.id), zs,
                              {g: (p if g == "Horror" else 0.01) for g in GENRES},
                              {g: 0.5 for g in GENRES}, on=on, evidence_state=state,
                              explanations={"Horror": "said: 'something is whispering' (+1.8)"},
                              suggestions=["Horror", "Mystery"])
            ids[name] = v.id
        set_metadata_labels(s, ids["alien"], ["Horror", "Sci-Fi"])  # the head disagrees
        head, _ = note_active_head(s, "trained", "1", "onnx")
        v = new_video(s, "/films/sure.mp4", 1, 1)
        store_predictions(s, s.get(Video, v.id), head, {g: 0.99 if g == "Drama" else 0.001
                                                        for g in GENRES})
        ids["sure"] = v.id
    return ids


def test_detail_shows_head_quality_state_and_explanations(qtbot, make_window, lib) -> None:
    ids = _cold_library(lib)
    win = make_window()
    win.reselect([ids["horror"]])
    qtbot.waitUntil(lambda: win.detail.record is not None and win.detail.record.id == ids["horror"])
    d = win.detail
    assert d.head.text().startswith("Active head: zero-shot — macro mAP")
    assert "cold-start set" in d.head.text()
    assert d.state.text().startswith("Cold start") and "unconfirmed" in d.state.text()
    assert "Horror: said: 'something is whispering' (+1.8)" in d.why.text()
    assert "Suggestions: Mystery" in d.why.text()
    assert d.rows["Horror"].check.toolTip() == "said: 'something is whispering' (+1.8)"
    win.reselect([ids["bunny"]])
    qtbot.waitUntil(lambda: d.record is not None and d.record.id == ids["bunny"])
    assert d.state.text().startswith("Weak evidence")
    win.reselect([ids["alien"]])
    qtbot.waitUntil(lambda: d.record is not None and d.record.id == ids["alien"])
    assert d.state.text().startswith("Labelled") and d.record.genres == ("Horror", "Sci-Fi")


def test_needs_review_filter(qtbot, make_window, lib) -> None:
    ids = _cold_library(lib)
    win = make_window()
    assert win.model.rowCount() == 4
    win.only["review"].setChecked(True)
    qtbot.waitUntil(lambda: win.model.rowCount() == 3)
    shown = {win.model.video_id(r) for r in range(win.model.rowCount())}
    # the trained, confident video is not listed; the metadata one is (the head disagrees)
    assert shown == {ids["horror"], ids["bunny"], ids["alien"]}
    win.only["review"].setChecked(False)
    qtbot.waitUntil(lambda: win.model.rowCount() == 4)


def test_train_button_runs_in_the_background_with_progress(qtbot, tmp_path) -> None:
    from tests.core.test_library_personal_head import FAST, _library
    from tests.gui.support import SPEC
    from trailertagger.core.app import LibrarySession
    from trailertagger.gui.bridge import JobBridge
    from trailertagger.gui.main_window import MainWindow

    lib, _truth = _library(12)
    opts = PoolOptions(workers=0, services=SPEC, services_kwargs={"real_probe": True},
                       settle_seconds=0.0, poll_seconds=0.1, heartbeat_seconds=0.3)
    session = LibrarySession(lib)
    bridge = JobBridge(session, opts, watch=False, rescan_seconds=None)
    win = MainWindow(session, bridge, settings=QSettings(str(tmp_path / "g.ini"),
                                                         QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.show()
    try:
        win.train_config = FAST
        seen: list[tuple[str, int, int]] = []
        win.trainProgress.connect(lambda *a: seen.append(a))
        with qtbot.waitSignal(win.trainDone, timeout=600_000):
            win.act_train.trigger()
            assert not win.act_train.isEnabled()  # the GUI thread returned at once
            assert win.train_bar.isVisibleTo(win)
        assert not isinstance(win.last_train, Exception), win.last_train
        assert seen and seen[0][0].startswith("fold 1/") and seen[-1][0] == "done"
        assert win.act_train.isEnabled() and not win.train_bar.isVisibleTo(win)
        assert "labelled videos" in win.activity.text()
        if win.last_train.activated:
            assert win.detail.head.text().startswith("Active head: mlp")
            assert "on 12 labelled videos" in win.detail.head.text()
    finally:
        win.close()
        lib.close()
