"""The window goes through the application layer: its export menu lists the writer registry,
and activating a genre head from the Library menu makes "re-run stale" re-queue the videos of
every other head (the same rules the CLI has)."""

from __future__ import annotations

from pathlib import Path

from tests.gui.support import fill
from trailertagger.core.app import TableWriter, register_writer
from trailertagger.core.library import queries
from trailertagger.core.library.writers import unregister_writer


def test_export_menu_lists_a_registered_writer(qtbot, make_window, lib, tmp_path: Path) -> None:
    fill(lib, 3)

    @register_writer
    class TsvWriter(TableWriter):
        name, label, suffix = "tsv-test", "Tab-separated test table", ".tsv"

        def rows(self, records, out, probabilities):  # noqa: ANN001, ANN201
            n = 0
            for rec in records:
                out.write(f"{rec.path}\t{'|'.join(rec.genres)}\n")
                n += 1
            return n

    try:
        win = make_window()
        win.export_menu.aboutToShow.emit()  # rebuilt from the registry when it opens
        names = [a.data() for a in win.export_menu.actions()]
        assert names[:3] == ["nfo", "csv", "json"] and "tsv-test" in names
        dest = tmp_path / "out.tsv"
        win.export("tsv-test", dest, confirm=False)
        qtbot.waitUntil(lambda: "wrote 3 video(s)" in win.activity.text(), timeout=10000)
        assert len(dest.read_text(encoding="utf-8").splitlines()) == 3
    finally:
        unregister_writer("tsv-test")


def test_activate_head_then_rerun_stale_from_the_window(qtbot, make_window, lib) -> None:
    ids = fill(lib, 4, model="old-head")  # classified by a head that is not active
    win = make_window(start=False)  # nothing processes: the queue is what we look at
    win.heads_menu.aboutToShow.emit()
    entries = {a.text().split()[0]: a for a in win.heads_menu.actions()}
    assert "zero-shot" in entries
    entries["zero-shot"].trigger()
    qtbot.waitUntil(lambda: "older predictions are marked stale" in win.activity.text(),
                    timeout=10000)
    with lib.read() as s:
        assert queries.counts(s).stale == 4
    win.act_rerun_stale.trigger()
    qtbot.waitUntil(lambda: "4 video(s) queued" in win.activity.text(), timeout=10000)
    with lib.read() as s:
        assert sorted(j.video_id for j in queries.jobs(s, status="queued")) == sorted(ids)
