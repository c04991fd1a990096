"""The library view's context menu: what applies to the rows under it (issue 11).

Which action applies to which videos is the application layer's rule
(``LibrarySession.applicable`` → ``Applicability.reason``); this module only turns it into
menu entries: an entry that does not apply stays visible but disabled, with the reason as
its tooltip, so the menu has the same shape for one row or many.  Entries that name a single
file (play, open its folder, copy its path) act on the row under the mouse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QMenu, QWidget

from ..core.app import Applicability

CHECK_BELOW = 5_000  # measured ~40 ms at 5,000; bigger selections skip the check (each action checks itself)


def _plural(n: int) -> str:
    return f"{n} video{'s' if n != 1 else ''}"


def build_menu(parent: QWidget, ids: list[int], applicable: Applicability | None,
               handlers: dict[str, Callable[[], Any]]) -> QMenu:
    """A menu for ``ids`` (non-empty).  ``applicable`` None: not checked (huge selection).
    ``handlers`` maps an action name to what it does."""
    menu = QMenu(parent)
    menu.setToolTipsVisible(True)
    n = len(ids)
    many = f" ({_plural(n)})" if n > 1 else ""
    entries = (
        ("play", "&Play", "open in the default player"),
        ("open", "Open file &location", "show the folder in the file manager"),
        ("copy", "&Copy path" + ("s" if n > 1 else ""), "the path(s) as text"),
        None,
        ("rerun", "&Re-run classification" + many, "replaces only automatic genres; corrections stay"),
        ("reextract", "Re-e&xtract features and classify" + many,
         "probe and extract again (after a model or extractor change), then classify"),
        ("cancel", "Ca&ncel processing" + many, "queued jobs stop now, running ones at their next step"),
        None,
        ("clear", "Clear c&orrections" + many, "the model decides every genre again (undoable)"),
        ("export", "Export &NFO beside the file" + ("s" if n > 1 else "") + many,
         "write the genres into Kodi/Jellyfin NFO files"),
        ("erase", "&Erase missing" + many + "…", "remove rows whose file is gone, with their tags"),
    )
    for entry in entries:
        if entry is None:
            menu.addSeparator()
            continue
        name, text, tip = entry
        act = menu.addAction(text)
        act.setObjectName(f"ctx-{name}")
        why = applicable.reason(name) if applicable is not None else ""
        if name in ("play", "open") and n > 1:
            text += " (the row under the mouse)"
            act.setText(text)
        act.setEnabled(not why and name in handlers)
        act.setToolTip(f"not available: {why}" if why else tip)
        if name in handlers:
            act.triggered.connect(lambda _=False, f=handlers[name]: f())
    return menu
