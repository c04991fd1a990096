"""The per-video feature cache: one ``.npz`` per content hash under ``AppDirs.features``.

A file holds every modality ever computed for that content, each with the extractor name and
version that made it.  A modality is reused when its extractor name and version match the
one about to run; a version bump makes it stale and only that modality is recomputed.
Because the key is the content hash, a renamed or moved video reuses its features.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import DiskFullError, is_disk_full
from .io import load_featureset, save_featureset
from .types import FeatureSet

log = logging.getLogger(__name__)

# A modality missing for one of these reasons is a fact about the content, not about the
# models installed, so it is as reusable as computed features.
MEDIA_REASON_PREFIXES = ("no video", "no audio")


class FeatureCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, content_hash: str) -> Path:
        digest = content_hash.split(":", 1)[-1]
        return self.root / digest[:2] / f"{digest}.npz"

    def load(self, content_hash: str) -> FeatureSet | None:
        """The cached set, or None when absent or unreadable (a corrupt file is recomputed)."""
        path = self.path_for(content_hash)
        if not path.exists():
            return None
        try:
            fs = load_featureset(path)
        except Exception as err:  # noqa: BLE001 - any damage means "recompute"
            log.warning("ignoring unreadable feature file %s: %s", path, err)
            return None
        return fs if fs.content_hash == content_hash else None

    def save(self, fs: FeatureSet) -> Path:
        path = self.path_for(fs.content_hash)
        try:
            save_featureset(path, fs)
        except OSError as err:
            if is_disk_full(err):  # not this video's problem: every next one fails the same way
                raise DiskFullError(path.parent) from err
            raise
        return path

    @staticmethod
    def is_fresh(fs: FeatureSet | None, modality: str, extractor: str, version: str) -> bool:
        """True when ``fs`` already answers ``modality`` for this extractor version."""
        if fs is None:
            return False
        m = fs.modalities.get(modality)
        if m is not None:
            return m.extractor == extractor and m.extractor_version == version
        reason = fs.missing.get(modality, "")
        return reason.startswith(MEDIA_REASON_PREFIXES)
