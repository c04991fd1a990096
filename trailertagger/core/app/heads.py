"""The active genre head, recorded everywhere at once.

Which head is active lives in ``heads/active.json`` (shared by every library of the user);
each library also remembers which head its current predictions come from, and marks the
others' automatic rows *stale*.  The two used to be updated by different code paths, so
``heads activate`` left libraries believing an old head was current and ``rerun --stale``
found nothing.  Now one function activates (``activate``) and every library session brings
its own record in line with the pointer when it opens and the pointer changed since it last
looked (``sync_library``), so whichever library is opened next, by the CLI or the app, sees
the change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..classify import runtime
from ..classify.card import load_card
from ..library.classification import note_active_head
from ..library.db import Library, get_meta, set_meta
from ..paths import AppDirs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeadIdentity:
    """What a library stores about a head: enough to tell its predictions from another's."""

    model_id: str
    version: str
    kind: str
    path: Path | None  # None: the built-in zero-shot head

    @property
    def key(self) -> tuple[str, str]:
        return self.model_id, self.version


def zero_shot_identity() -> HeadIdentity:
    """The zero-shot head's id and version, without loading any model."""
    from ..classify.zero_shot import ZERO_SHOT_VERSION, ZeroShotHead, genre_descriptions

    version = f"{ZERO_SHOT_VERSION}-{genre_descriptions().sha256[:12]}"
    return HeadIdentity(ZeroShotHead.model_id, version, ZeroShotHead.kind, None)


def active_identity(dirs: AppDirs) -> HeadIdentity:
    """The head the pointer names (a trained head's card), else the zero-shot head.

    A pointer to a head that cannot be read falls back to zero-shot, exactly as the
    classify stage does when it loads the head (``runtime.active_head``)."""
    path = runtime.active_head_dir(dirs)
    if path is not None:
        try:
            card = load_card(path)
            if (path / runtime.MODEL_FILE).exists():
                return HeadIdentity(card.model_id, card.version, card.kind, path)
        except ValueError as err:
            log.warning("active head %s cannot be read (%s); the zero-shot head is used", path, err)
    return zero_shot_identity()


POINTER_SEEN_KEY = "head_pointer_seen"  # the pointer's head when this library last looked


def sync_library(lib: Library, dirs: AppDirs, *, force: bool = False) -> int:
    """Bring ``lib``'s record of the active head in line with the pointer when the pointer
    changed since this library last looked (or always, with ``force``); returns how many
    automatic rows became stale.  Nothing is written when nothing changed.

    A library that never looked adopts the pointer as it is: its rows were made by whatever
    it recorded itself, and the classify stage records every head it uses."""
    ident = active_identity(dirs)
    seen_now = f"{ident.model_id}\t{ident.version}"
    with lib.read() as s:
        seen = get_meta(s, POINTER_SEEN_KEY)
    if not force and seen == seen_now:
        return 0
    stale = 0
    with lib.session() as s:
        if force or seen is not None:
            _, stale = note_active_head(s, ident.model_id, ident.version, ident.kind)
        set_meta(s, POINTER_SEEN_KEY, seen_now)
    if stale:
        log.info("active head is now %s %s: %d automatic rows marked stale",
                 ident.model_id, ident.version, stale)
    return stale


def activate(dirs: AppDirs, target: Path | str | None, lib: Library | None = None) -> HeadIdentity:
    """Make ``target`` (a head folder, a model id under the heads folder, or ``zero-shot``)
    the active head and, when a library is given, record it there at once."""
    runtime.activate_head(dirs, _head_folder(dirs, target))
    ident = active_identity(dirs)
    if lib is not None:
        sync_library(lib, dirs, force=True)
    return ident


def _head_folder(dirs: AppDirs, target: Path | str | None) -> Path | str | None:
    if target is None or str(target) == runtime.ZERO_SHOT:
        return None
    path = Path(target)
    if not path.exists():
        by_id = [h.path for h in runtime.list_heads(dirs) if h.path and h.model_id == str(target)]
        if by_id:
            return by_id[0]
    return path
