"""Which audio track and which subtitle track to read, decided on probe records alone.

A film file often carries several audio tracks (the original, dubs, a director's
commentary, audio description) and several subtitle tracks (languages, forced-only,
hearing-impaired, bitmap and text).  Exactly one audio track is decoded, never a mix:

1. ``[media] audio_language`` set (``"en"``, ``"eng"``, ``"fre"``/``"fra"`` all work): the
   first track in that language that is not commentary or description;
2. otherwise the track flagged *default* in the container, unless it is commentary;
3. otherwise the first track that is not commentary, dub or description;
4. otherwise the first track.

A track counts as commentary when its disposition says so or its title says "commentary"
(many muxers set only the title); description likewise ("audio description", "described").

Subtitles (``choose_subtitle``): text codecs only (SubRip, ASS/SSA, mov_text, WebVTT and
plain text); bitmap codecs (PGS, VobSub/DVD, DVB, XSUB) cannot be read without OCR and are
reported as skipped.  Among text tracks in the preferred language (``[media]
subtitle_language``, default ``en``; untagged tracks count as a match, as most sidecar
files carry no tag), full tracks beat *forced* ones (forced tracks hold only the few
foreign-language lines), then the container's default flag, then file order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .types import StreamInfo

TEXT_SUBTITLE_CODECS = frozenset({"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text",
                                  "subviewer", "subviewer1", "microdvd", "sami", "realtext",
                                  "jacosub", "mpl2", "pjs", "vplayer", "stl"})
BITMAP_SUBTITLE_CODECS = frozenset({"hdmv_pgs_subtitle", "pgssub", "dvd_subtitle", "dvdsub",
                                    "dvb_subtitle", "dvbsub", "xsub"})

# ISO 639-2 (both B and T forms) -> 639-1 for the languages films most often carry; any
# other tag is compared as written (lower case).
_ISO2 = {
    "eng": "en", "fre": "fr", "fra": "fr", "ger": "de", "deu": "de", "spa": "es",
    "ita": "it", "por": "pt", "dut": "nl", "nld": "nl", "swe": "sv", "nor": "no", "nob": "nb",
    "dan": "da", "fin": "fi", "pol": "pl", "cze": "cs", "ces": "cs", "slo": "sk", "slk": "sk",
    "hun": "hu", "rum": "ro", "ron": "ro", "gre": "el", "ell": "el", "tur": "tr", "rus": "ru",
    "ukr": "uk", "ara": "ar", "heb": "he", "hin": "hi", "jpn": "ja", "kor": "ko", "chi": "zh",
    "zho": "zh", "tha": "th", "vie": "vi", "ind": "id", "may": "ms", "msa": "ms", "per": "fa",
    "fas": "fa", "ice": "is", "isl": "is", "cat": "ca", "hrv": "hr", "srp": "sr", "bul": "bg",
}
_UNDEFINED = {"", "und", "unk", "zxx", "mis", "mul"}


def norm_language(tag: str) -> str:
    """``"eng"``, ``"EN"``, ``"en-US"`` and ``"en_GB"`` all give ``"en"``; unknown tags
    are returned lower-cased; an undefined tag (``und``) gives ``""``."""
    t = (tag or "").strip().lower().replace("_", "-").split("-")[0]
    if t in _UNDEFINED:
        return ""
    return _ISO2.get(t, t)


def _is_commentary(s: StreamInfo) -> bool:
    return "comment" in s.flags or "commentary" in s.title.lower()


def _is_description(s: StreamInfo) -> bool:
    title = s.title.lower()
    return ("descriptions" in s.flags or "visual_impaired" in s.flags
            or "audio description" in title or "described" in title)


@dataclass(frozen=True)
class TrackChoice:
    stream: StreamInfo | None
    reason: str  # in words, for provenance

    def to_dict(self) -> dict[str, object]:
        s = self.stream
        return {"index": s.index if s else None, "codec": s.codec if s else None,
                "language": s.language if s else None, "title": s.title if s else None,
                "reason": self.reason}


def choose_audio(streams: Sequence[StreamInfo], language: str = "") -> TrackChoice:
    """The one audio track to decode (rules in the module docstring)."""
    audio = [s for s in streams if s.kind == "audio"]
    if not audio:
        return TrackChoice(None, "no audio stream")
    plain = [s for s in audio if not _is_commentary(s) and not _is_description(s)]
    want = norm_language(language)
    if want:
        for s in plain:
            if norm_language(s.language) == want:
                return TrackChoice(s, f"preferred language {language!r}")
    for s in audio:
        if "default" in s.flags and s in plain:
            why = "default track" + (f" (no {language!r} track)" if want else "")
            return TrackChoice(s, why)
    original = [s for s in plain if "dub" not in s.flags]
    if original:
        return TrackChoice(original[0], "first track that is not commentary, dub or description")
    return TrackChoice(audio[0], "first track")


@dataclass(frozen=True)
class SubtitleChoice:
    """A text subtitle stream to read, or None with the reason (bitmap-only, wrong language)."""

    stream: StreamInfo | None
    reason: str
    skipped_bitmap: tuple[int, ...] = ()  # stream indices of bitmap tracks passed over


def language_matches(tag: str, language: str) -> bool:
    """True when ``tag`` is ``language`` or untagged (most sidecar files carry no tag)."""
    got, want = norm_language(tag), norm_language(language)
    return not want or not got or got == want


def choose_subtitle(streams: Sequence[StreamInfo], language: str = "en") -> SubtitleChoice:
    """The embedded subtitle stream to read as speech text (rules in the module docstring)."""
    subs = [s for s in streams if s.kind == "subtitle"]
    if not subs:
        return SubtitleChoice(None, "no subtitle stream")
    bitmap = tuple(s.index for s in subs if s.codec in BITMAP_SUBTITLE_CODECS)
    text = [s for s in subs if s.codec in TEXT_SUBTITLE_CODECS and not _is_commentary(s)]
    fitting = [s for s in text if language_matches(s.language, language)]
    if not fitting:
        if text:
            langs = ", ".join(sorted({s.language or "untagged" for s in text}))
            return SubtitleChoice(None, f"no text subtitle in {language!r} (found: {langs})", bitmap)
        if bitmap:
            return SubtitleChoice(None, f"only bitmap subtitles ({len(bitmap)} track(s): "
                                        "PGS/VobSub need OCR), skipped", bitmap)
        codecs = ", ".join(sorted({s.codec or "unknown" for s in subs}))
        return SubtitleChoice(None, f"no readable subtitle codec ({codecs})", bitmap)

    def rank(s: StreamInfo) -> tuple[int, int, int, int]:
        return ("forced" in s.flags, not norm_language(s.language),
                "default" not in s.flags, s.index)

    best = min(fitting, key=rank)
    why = f"embedded {best.codec} track {best.index}"
    if best.language:
        why += f" ({best.language})"
    return SubtitleChoice(best, why, bitmap)
