"""Resumable, verified downloads of model files with nothing but ``urllib``.

Why this shape:
  * bytes stream into ``<dest>.part`` and only a verified file is renamed into place
    (``os.replace`` is atomic on one filesystem), so a crash, Ctrl-C or a bad mirror never
    leaves a file at ``dest`` that the store would later trust;
  * an interrupted download keeps its ``.part`` and the next attempt asks for the rest with an
    HTTP ``Range`` header (a 600 MB CLIP checkpoint on a flaky connection must not restart);
  * being offline is the normal case for this app, so network failures become a
    ``ModelMissingError`` that says so and tells the user where to put the file by hand.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import Cancelled, ModelChecksumError, ModelMissingError
from ..fsutil import replace_durable
from ..progress import CancelToken, Progress

log = logging.getLogger(__name__)

_CHUNK = 1 << 16
_USER_AGENT = "trailertagger-model-store/1"
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class DownloadCancelled(Cancelled):
    """The caller's cancel token was set; the ``.part`` file is kept for a later resume."""


def part_path(dest: Path) -> Path:
    return Path(dest).with_name(Path(dest).name + ".part")


def _offline_reason(err: BaseException) -> str | None:
    """A short reason when ``err`` means "no network", else None."""
    reason = getattr(err, "reason", err)
    if isinstance(reason, socket.gaierror):
        return f"name lookup failed ({reason})"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "connection timed out"
    if isinstance(reason, OSError) and reason.errno in (101, 113, 65, 51):  # net/host unreachable
        return f"network unreachable ({reason})"
    return None


def _fail(what: str, url: str, err: BaseException, manual: Path) -> ModelMissingError:
    offline = _offline_reason(err)
    if offline:
        msg = (f"could not download {what} from {url}: {offline}; you appear to be offline; "
               f"put the file at {manual}")
    elif isinstance(err, urllib.error.HTTPError):
        msg = f"could not download {what} from {url}: HTTP {err.code} {err.reason}; put the file at {manual}"
    else:
        reason = getattr(err, "reason", None) or err
        msg = f"could not download {what} from {url}: {reason}; put the file at {manual}"
    return ModelMissingError(msg)


def download(
    url: str,
    dest: Path,
    *,
    sha256: str = "",
    size: int = 0,
    progress: Progress | None = None,
    timeout: float = 30.0,
    what: str = "",
    manual_path: Path | None = None,
    cancel: CancelToken | None = None,
    label: str = "",
) -> str:
    """Download ``url`` to ``dest`` and return the file's sha256.

    ``sha256``/``size`` (when given) must match or the partial file is deleted and
    ``ModelChecksumError`` raised.  ``progress(label, bytes done, total bytes or None)`` is called as bytes arrive
    (``label`` defaults to the file name); ``cancel`` is checked between chunks.
    ``what`` names the item in messages; ``manual_path`` is where the user should put the
    file by hand (default ``dest``).
    """
    dest = Path(dest)
    what = what or dest.name
    manual = Path(manual_path or dest)
    if not url.lower().startswith(("http://", "https://")):
        raise ModelMissingError(f"cannot download {what}: unsupported URL {url!r}; put the file at {manual}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    hasher = hashlib.sha256()
    have = part.stat().st_size if part.exists() else 0
    if size and have > size:  # a stale part from another version of the file
        part.unlink()
        have = 0
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http/https only)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to send: the part may already be whole
            log.info("%s: server says %s is complete", what, part)
            return _finish(part, dest, hasher_from_file(part), sha256, size, what)
        raise _fail(what, url, err, manual) from err
    except (urllib.error.URLError, OSError) as err:
        raise _fail(what, url, err, manual) from err

    with response:
        status = getattr(response, "status", 200)
        total: int | None = None
        if status == 206 and have:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != have:
                raise ModelMissingError(f"could not resume {what} from {url}: bad Content-Range; "
                                        f"delete {part} and try again")
            total = int(match.group(3)) if match.group(3) != "*" else None
            hasher = hasher_from_file(part)
            mode = "ab"
            log.info("%s: resuming at %d bytes", what, have)
        else:  # 200: full body (server ignored Range or there was no part)
            have = 0
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            mode = "wb"
        total = total or size or None
        done = have
        label = label or dest.name
        if progress:
            progress(label, done, total)
        try:
            with open(part, mode) as fh:
                while True:
                    if cancel is not None and cancel.cancelled:
                        raise DownloadCancelled(f"download of {what} cancelled; {part} kept for resuming")
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    fh.write(chunk)
                    hasher.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(label, done, total)
                fh.flush()
                os.fsync(fh.fileno())
        except (urllib.error.URLError, OSError) as err:  # connection dropped: keep the part
            raise _fail(what, url, err, manual) from err
    if total is not None and done != total:
        raise ModelMissingError(f"download of {what} from {url} stopped at {done} of {total} bytes; "
                                f"run again to resume, or put the file at {manual}")
    return _finish(part, dest, hasher, sha256, size, what)


def hasher_from_file(path: Path) -> hashlib._Hash:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h


def _finish(part: Path, dest: Path, hasher: hashlib._Hash, sha256: str, size: int, what: str) -> str:
    actual = hasher.hexdigest()
    got = part.stat().st_size
    if (sha256 and actual != sha256.lower()) or (size and got != size):
        part.unlink(missing_ok=True)
        detail = f"expected sha256 {sha256 or '(not pinned)'} and {size or '?'} bytes, " \
                 f"got sha256 {actual} and {got} bytes"
        raise ModelChecksumError(f"downloaded {what} is corrupt or not the expected file ({detail}); "
                                 f"the partial file was deleted")
    replace_durable(part, dest)  # the part was fsynced as it was written
    return actual
