"""Which library row a file on disk is, and what changed since we last looked.

The cheap check is ``(size, mtime_ns)``; the content hash (``core.media.identity``) confirms.
Rules, in the order the scanner (``core.jobs.watcher``) and the probe stage apply them:

* a path we know with the same signature is *unchanged* (no hashing at all);
* a path we know with a different signature is *changed*: it is hashed, and only a different
  hash marks its auto rows stale and re-extracts (a ``touch`` costs one hash, nothing more);
* an unknown path is *new*; when its hash belongs to a row whose file is missing (or whose
  file is gone but not yet noticed by a rescan), the file was moved or renamed: the old row
  takes the new path and keeps its tags and history (``adopt_moved``); when the hash belongs
  to a row whose file still exists, it is a copy and inherits that row's manual corrections
  (``copy_corrections``);
* a known path that is gone is *missing* (``mark_missing``): kept, tags included, until the
  user purges (``purge_missing``).

``apply_content_hash`` is the hash step in one call; ``identify`` runs it for callers without
a worker pool.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from .classification import mark_video_stale
from .db import Library, now
from .queries import CHUNK
from .schema import (
    JOB_ACTIVE,
    SOURCE_MANUAL,
    VIDEO_MISSING,
    VIDEO_PENDING,
    VIDEO_READY,
    GenreAssignment,
    Job,
    Video,
)


# What a library scan picks up (lower-case suffixes).  Kodi's list, minus audio and images.
class Change(enum.Enum):
    NEW = "new"
    UNCHANGED = "unchanged"
    CHANGED = "changed"  # signature differs: hash to confirm
    RETURNED = "returned"  # was missing, is back at the same path


def normalize_path(path: os.PathLike[str] | str) -> str:
    """The form paths are stored in: absolute, normalised, symlinks kept (a library on a
    symlinked drive must keep working when the link target changes)."""
    return os.path.abspath(os.fspath(path))


def storable_path(path: str) -> bool:
    """Can the library store this path?  Not when the name holds bytes that are not UTF-8
    (``os.fsdecode`` turns them into lone surrogates, which SQLite text cannot hold)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def display_path(path: os.PathLike[str] | str) -> str:
    """A printable, JSON-safe form of any path: undecodable bytes shown as ``\\xff``."""
    raw = os.fsencode(path)
    return raw.decode("utf-8", "backslashreplace")


UNSTORABLE_NAME = "the file name is not valid UTF-8; rename the file to tag it"


def search_key(path: str) -> str:
    return path.casefold()


def classify_change(row: Video | None, size: int, mtime_ns: int) -> Change:
    if row is None:
        return Change.NEW
    if row.status == VIDEO_MISSING:
        return Change.RETURNED
    if row.size == size and row.mtime_ns == mtime_ns:
        return Change.UNCHANGED
    return Change.CHANGED


def video_by_path(session: Session, path: str) -> Video | None:
    return session.execute(select(Video).where(Video.path == path)).scalar_one_or_none()


def file_key(st: os.stat_result) -> tuple[int | None, int | None]:
    """(device, inode) of a stat result, or (None, None) where the file system has none (or
    the numbers do not fit SQLite's signed 64-bit integers)."""
    dev, ino = int(st.st_dev), int(st.st_ino)
    if ino <= 0 or not (0 <= dev < 2**63 and ino < 2**63):
        return None, None
    return dev, ino


def new_video(session: Session, path: str, size: int, mtime_ns: int,
              folder_id: int | None = None, key: tuple[int | None, int | None] = (None, None)
              ) -> Video:
    t = now()
    video = Video(path=path, search_key=search_key(path), folder_id=folder_id, size=size,
                  mtime_ns=mtime_ns, status=VIDEO_PENDING, added_at=t, updated_at=t,
                  device=key[0], inode=key[1])
    session.add(video)
    session.flush()
    return video


def mark_missing(session: Session, videos: Iterable[Video], reason: str = "file not found") -> int:
    """Flag rows whose file is gone; tags stay.  Returns how many changed state."""
    t = now()
    n = 0
    for v in videos:
        if v.status != VIDEO_MISSING:
            v.status = VIDEO_MISSING
            v.missing_since = t
            v.error_reason = reason
            v.updated_at = t
            n += 1
    return n


def mark_returned(video: Video, size: int, mtime_ns: int) -> None:
    video.status = VIDEO_READY if video.classified_head_id is not None else VIDEO_PENDING
    video.missing_since = None
    video.error_reason = None
    video.size, video.mtime_ns = size, mtime_ns
    video.updated_at = now()


def move_path(session: Session, old: str, new: str) -> Video | None:
    """A rename seen by the watcher: same row, new path.  Returns the row, if known."""
    video = video_by_path(session, old)
    if video is None:
        return None
    clash = video_by_path(session, new)
    if clash is not None and clash.id != video.id:
        # the destination was known too (e.g. overwritten by the move): the moved row wins
        session.delete(clash)
        session.flush()
    video.path = new
    video.search_key = search_key(new)
    if video.status == VIDEO_MISSING:
        mark_returned(video, video.size, video.mtime_ns)
    video.updated_at = now()
    return video


def move_tree(session: Session, old_dir: str, new_dir: str) -> int:
    """A folder rename: every row under ``old_dir`` follows it."""
    prefix = old_dir.rstrip(os.sep) + os.sep
    rows = session.execute(select(Video).where(Video.path.startswith(prefix, autoescape=True))).scalars().all()
    for v in rows:
        move_path(session, v.path, os.path.join(new_dir, v.path[len(prefix):]))
    return len(rows)


def rows_under(session: Session, folder: str) -> list[Video]:
    prefix = folder.rstrip(os.sep) + os.sep
    return list(session.execute(
        select(Video).where(Video.path.startswith(prefix, autoescape=True))
    ).scalars())


def _same_file_first(video: Video):  # noqa: ANN202 - an ORDER BY term
    """Rows that were this very file (same device and inode) before other rows."""
    if video.inode is None:
        return Video.id.is_(None)  # a constant: no preference
    return ((Video.inode == video.inode) & (Video.device == video.device)).desc()


def moved_source(session: Session, video: Video, content_hash: str) -> Video | None:
    """A *missing* row with this content: the file ``video`` is that row, moved.  Among
    several (copies of one file, all moved), the row that was this file (inode) wins."""
    return session.execute(
        select(Video).where(Video.content_hash == content_hash, Video.status == VIDEO_MISSING,
                            Video.id != video.id)
        .order_by(_same_file_first(video), Video.id).limit(1)
    ).scalar_one_or_none()


def duplicate_source(session: Session, video: Video, content_hash: str) -> Video | None:
    """A present row with the same content (a copy of the file)."""
    return session.execute(
        select(Video).where(Video.content_hash == content_hash, Video.status != VIDEO_MISSING,
                            Video.id != video.id)
        .order_by(_same_file_first(video), Video.id).limit(1)
    ).scalar_one_or_none()


def renamed_from(session: Session, path: str, st: os.stat_result) -> Video | None:
    """The row that a new path *is*, renamed: same (device, inode), size and mtime, and its
    old path no longer exists.  No hashing needed (a rename keeps all four); an inode that
    the file system reused for another file would also need the same size and mtime to the
    nanosecond."""
    dev, ino = file_key(st)
    if ino is None:
        return None
    for row in session.execute(select(Video).where(
            Video.inode == ino, Video.device == dev, Video.size == st.st_size,
            Video.mtime_ns == st.st_mtime_ns, Video.path != path)).scalars():
        if not os.path.lexists(row.path):
            return row
    return None


def adopt_moved(session: Session, new: Video, old: Video, job: Job | None = None) -> Video:
    """Fold the freshly discovered row ``new`` into ``old`` (the same file, moved).

    ``old`` keeps its id, tags and history and takes ``new``'s path and signature; ``new``
    disappears.  ``job`` (the job that discovered it) is re-pointed at ``old``; any other
    active job of either row is dropped so ``old`` keeps at most one.
    """
    path, size, mtime_ns, folder_id = new.path, new.size, new.mtime_ns, new.folder_id
    keep_job_id = job.id if job is not None else None
    session.execute(
        update(Job).where(Job.video_id.in_([old.id, new.id]), Job.status.in_(JOB_ACTIVE),
                          Job.id != (keep_job_id or -1))
        .values(status="cancelled", error_reason="superseded: file was moved", finished_at=now())
        .execution_options(synchronize_session=False)
    )
    if job is not None:
        job.video_id = old.id
    session.flush()
    session.delete(new)
    session.flush()
    old.path, old.search_key = path, search_key(path)
    old.device, old.inode = new.device, new.inode
    old.folder_id = folder_id if folder_id is not None else old.folder_id
    mark_returned(old, size, mtime_ns)
    session.flush()
    return old


def copy_corrections(session: Session, src: Video, dst: Video) -> int:
    """Give a copy of a file the manual corrections of the original (absent ones only)."""
    have = set(session.execute(
        select(GenreAssignment.genre).where(GenreAssignment.video_id == dst.id,
                                            GenreAssignment.source == SOURCE_MANUAL)
    ).scalars())
    n = 0
    for row in session.execute(
        select(GenreAssignment).where(GenreAssignment.video_id == src.id,
                                      GenreAssignment.source == SOURCE_MANUAL)
    ).scalars():
        if row.genre in have:
            continue
        session.add(GenreAssignment(video_id=dst.id, genre=row.genre, source=SOURCE_MANUAL,
                                    positive=row.positive, rejected=row.rejected, stale=False,
                                    created_at=now()))
        n += 1
    return n


# -- the hash step -----------------------------------------------------------------------------
@dataclass(frozen=True)
class HashOutcome:
    """What :func:`apply_content_hash` decided for one row."""

    video_id: int  # the row the file belongs to now (differs from the input when moved)
    moved_from: str | None = None  # old path, when the file was recognised as moved
    copied_from: str | None = None  # the original, when it is a copy with corrections copied
    content_changed: bool = False  # hash differs from the stored one: auto rows went stale
    first_hash: bool = False  # the row had no hash before

    @property
    def needs_processing(self) -> bool:
        """Features/predictions must be (re)computed for this content."""
        return self.first_hash or self.content_changed


def apply_content_hash(s: Session, video: Video, chash: str, signature: tuple[int, int],
                       job: Job | None = None) -> tuple[Video, HashOutcome]:
    """Record the content hash of ``video``'s file and apply the identity rules above.

    Returns the row the file now belongs to (``video`` itself, or the moved file's old row,
    in which case ``video`` has been deleted) and what happened.
    """
    moved_from = copied_from = None
    first = video.content_hash is None
    changed = False
    if first:
        moved = moved_source(s, video, chash)
        if moved is not None:
            moved_from = moved.path
            video = adopt_moved(s, video, moved, job)
        else:
            dup = duplicate_source(s, video, chash)
            if dup is not None and not os.path.isfile(dup.path):
                # moved out of a folder that was not rescanned yet: a move, not a copy
                moved_from = dup.path
                video = adopt_moved(s, video, dup, job)
            elif dup is not None and copy_corrections(s, dup, video):
                copied_from = dup.path
    elif video.content_hash != chash:
        mark_video_stale(s, video.id)
        changed = True
    video.content_hash = chash
    video.size, video.mtime_ns = signature
    if video.status == VIDEO_MISSING:
        mark_returned(video, *signature)
    elif (not first and not changed and video.status == VIDEO_PENDING
          and video.classified_head_id is not None):
        video.status = VIDEO_READY  # touched or returned with the same bytes: tags still hold
    video.updated_at = now()
    return video, HashOutcome(video.id, moved_from, copied_from, changed,
                              first and moved_from is None)


def identify(lib: Library, video_ids: Sequence[int],
             hasher: Callable[[Path], str] | None = None) -> list[HashOutcome | tuple[int, str]]:
    """Hash the files of ``video_ids`` and apply :func:`apply_content_hash` to each.

    The hashing happens outside any transaction.  A file that cannot be read gives
    ``(video_id, reason)`` instead of an outcome (and a vanished one is marked missing).
    """
    if hasher is None:
        from ..media.identity import content_hash as hasher
    from ..media.identity import file_signature

    out: list[HashOutcome | tuple[int, str]] = []
    for vid in video_ids:
        with lib.read() as s:
            row = s.get(Video, vid)
            path = row.path if row is not None else None
        if path is None:
            out.append((vid, "no longer in the library"))
            continue
        try:
            sig = file_signature(Path(path))
            chash = hasher(Path(path))
        except FileNotFoundError:
            with lib.session() as s:
                v = s.get(Video, vid)
                if v is not None:
                    mark_missing(s, [v], "file vanished before it was hashed")
            out.append((vid, "file not found"))
            continue
        except OSError as err:
            out.append((vid, f"cannot read the file: {err.strerror or err}"))
            continue
        with lib.session() as s:
            v = s.get(Video, vid)
            if v is None:
                out.append((vid, "no longer in the library"))
                continue
            _row, outcome = apply_content_hash(s, v, chash, sig)
        out.append(outcome)
    return out


def purge_missing(lib: Library, video_ids: Sequence[int] | None = None) -> int:
    """Erase missing rows (all of them, or those of ``video_ids`` that are missing).

    Their genre rows, corrections and jobs go with them (foreign-key cascade).  Rows whose
    file is present are never purged, whatever ids are passed.
    """
    with lib.session() as s:
        q = delete(Video).where(Video.status == VIDEO_MISSING)
        if video_ids is None:
            return int(s.execute(q.execution_options(synchronize_session=False)).rowcount or 0)
        ids = list(video_ids)
        n = 0
        for start in range(0, len(ids), CHUNK):
            part = q.where(Video.id.in_(ids[start:start + CHUNK]))
            n += int(s.execute(part.execution_options(synchronize_session=False)).rowcount or 0)
        return n
