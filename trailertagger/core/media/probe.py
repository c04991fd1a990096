"""A quick look at a media file: streams and duration, with one clear error per failure.

Every way a file can fail to open maps to one ``MediaError.reason`` so the CLI, the job queue
and the GUI can tell users what is wrong without parsing ffmpeg's messages:

* ``not_found``  the path does not exist;
* ``unreadable`` it exists but cannot be read (a directory, no permission, an I/O error);
* ``empty``      zero bytes (an interrupted copy or download);
* ``not_media``  ffmpeg recognises no container in it (random bytes, a text file, an mp4
                 whose index is missing);
* ``no_streams`` a container with neither audio nor video (e.g. a subtitle file).

``open_input`` is shared with scene detection and decoding so every reader opens files the
same way (UTF-8 paths, lenient metadata) and fails with the same reasons.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import av

from ..errors import MediaError
from .types import ProbeInfo, StreamInfo


def _check_file(path: Path) -> os.stat_result:
    """Fail early with a precise reason before handing the path to ffmpeg, whose errors are
    less specific (an empty file and random bytes both read as "invalid data")."""
    try:
        st = path.stat()
    except FileNotFoundError as err:
        raise MediaError(path, "not_found", "no such file") from err
    except NotADirectoryError as err:
        raise MediaError(path, "not_found", "a parent of the path is not a folder") from err
    except PermissionError as err:
        raise MediaError(path, "unreadable", "permission denied") from err
    except OSError as err:
        raise MediaError(path, "unreadable", err.strerror or str(err)) from err
    if stat.S_ISDIR(st.st_mode):
        raise MediaError(path, "unreadable", "is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        # Opening a named pipe blocks until a writer appears: never read one.
        raise MediaError(path, "unreadable", "not a regular file (a pipe, socket or device)")
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except PermissionError as err:
        raise MediaError(path, "unreadable", "permission denied") from err
    except OSError as err:
        raise MediaError(path, "unreadable", err.strerror or str(err)) from err
    if st.st_size == 0:
        raise MediaError(path, "empty", "the file has zero bytes")
    return st


def open_input(path: Path) -> av.container.InputContainer:
    """Open ``path`` for reading with PyAV, mapping every failure to a ``MediaError``.

    The caller closes the container (use it as a context manager).
    """
    path = Path(path)
    _check_file(path)
    try:
        return av.open(os.fspath(path), mode="r", metadata_errors="replace")
    except av.error.FileNotFoundError as err:
        raise MediaError(path, "not_found", "no such file") from err
    except (av.error.PermissionError, av.error.IsADirectoryError) as err:
        raise MediaError(path, "unreadable", str(err.strerror or err)) from err
    except av.error.InvalidDataError as err:
        raise MediaError(path, "not_media", "not a recognised audio/video container") from err
    except av.error.FFmpegError as err:
        if getattr(err, "errno", None) in (errno.EIO, errno.EACCES, errno.EPERM):
            raise MediaError(path, "unreadable", str(err.strerror or err)) from err
        raise MediaError(path, "not_media", str(err.strerror or err)) from err
    except OSError as err:  # pragma: no cover - raised by the OS before ffmpeg runs
        raise MediaError(path, "unreadable", err.strerror or str(err)) from err


def is_cover_art(stream: av.stream.Stream) -> bool:
    """True for a still picture attached to an audio file (album art in .m4a/.mp3): ffmpeg
    lists it as a video stream, but it is not a video and must not count as one."""
    return stream.type == "video" and bool(stream.disposition & av.stream.Disposition.attached_pic)


def video_streams(container: av.container.InputContainer) -> list[av.video.stream.VideoStream]:
    """The real video streams (cover art excluded), best first as ffmpeg orders them."""
    return [s for s in container.streams.video if not is_cover_art(s)]


_FLAGS = ("default", "forced", "comment", "dub", "hearing_impaired", "visual_impaired",
          "descriptions")


def stream_flags(stream: av.stream.Stream) -> tuple[str, ...]:
    """The disposition flags of ``stream`` that matter for choosing a track."""
    disp = int(stream.disposition)
    return tuple(f for f in _FLAGS if disp & int(getattr(av.stream.Disposition, f)))


def _codec_name(stream: av.stream.Stream) -> str:
    try:
        ctx = stream.codec_context
    except Exception:  # noqa: BLE001 - a stream ffmpeg has no decoder for
        ctx = None
    if ctx is not None:
        return ctx.name
    try:
        return av.codec.Codec(stream.codec_tag or "", "r").name  # pragma: no cover
    except Exception:  # noqa: BLE001
        return ""


def _stream_info(stream: av.stream.Stream) -> StreamInfo:
    ctx = stream.codec_context
    codec = _codec_name(stream)
    meta = stream.metadata or {}
    common = {"index": int(stream.index), "language": str(meta.get("language", "") or ""),
              "title": str(meta.get("title", "") or ""), "flags": stream_flags(stream)}
    if is_cover_art(stream):
        return StreamInfo("cover", codec, width=int(ctx.width or 0), height=int(ctx.height or 0),
                          **common)
    if stream.type == "video":
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        return StreamInfo("video", codec, width=int(ctx.width or 0), height=int(ctx.height or 0),
                          fps=float(rate) if rate else 0.0, **common)
    if stream.type == "audio":
        channels = ctx.layout.nb_channels if ctx.layout is not None else 0
        return StreamInfo("audio", codec, sample_rate=int(ctx.sample_rate or 0),
                          channels=int(channels), **common)
    return StreamInfo(stream.type, codec, **common)


def container_duration(container: av.container.InputContainer) -> float:
    """Duration in seconds as the container states it, else the longest stream; 0.0 if
    neither says (raw streams).  Not trusted for decoding, only for progress and spans."""
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    best = 0.0
    for s in container.streams:
        if s.duration and s.time_base:
            best = max(best, float(s.duration * s.time_base))
    return best


def container_start(container: av.container.InputContainer) -> float:
    """The container's start time in seconds (0 for most mp4/mkv; ~1.4 s for MPEG-TS).
    All times this package reports are relative to it, so video and audio share one clock."""
    if container.start_time is not None:
        return container.start_time / av.time_base
    return 0.0


def stream_duration(stream: av.stream.Stream, fallback: float) -> float:
    """One stream's stated duration in seconds, or ``fallback``."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return fallback


def probe(path: Path) -> ProbeInfo:
    """Streams, duration, size and mtime of ``path`` without decoding any frame.

    Raises ``MediaError`` with one of the reasons in the module docstring.  ``ProbeInfo.path``
    is the path as given (``os.fspath``), so callers' keys stay as they built them.
    """
    path = Path(path)
    st = _check_file(path)
    with open_input(path) as container:
        streams = tuple(_stream_info(s) for s in container.streams)
        duration = container_duration(container)
        fmt = container.format.name if container.format is not None else ""
    if not any(s.kind in ("video", "audio") for s in streams):
        kinds = ", ".join(sorted({s.kind for s in streams})) or "none"
        raise MediaError(path, "no_streams", f"no audio or video stream (streams: {kinds})")
    return ProbeInfo(path=os.fspath(path), size=int(st.st_size), mtime=float(st.st_mtime),
                     duration=float(duration), streams=streams, container=fmt)
