"""What to label next: the videos whose label would teach the genre head most.

``review_queue`` ranks videos (``trailertagger review``, the app's "needs review" filter) by
a score in [0, ~2] that adds three reasons, each said in words:

* **uncertainty** (unlabelled videos): how close the head's most doubtful genre is to its
  decision threshold, ``1 - |logit p - logit t| / 4`` (0 when four log-odds away).  A label
  there moves the decision boundary, where a random video's label mostly confirms what the
  head already knows (uncertainty sampling);
* **cold start only**: +0.5 when only the label-free head has seen the video and it found
  nothing it is confident about (``weak evidence``), +0.3 when it did (``cold start``): a
  trained head has not seen this kind of video yet;
* **disagreement** between sources (videos labelled by the library's metadata, not by the
  user): the head confidently contradicts an imported label (``|p - label| > 0.5``), 0.4 per
  genre: either the NFO/folder is wrong or the head is, and one look settles it.

Videos the user corrected are never listed (the user already looked); videos not classified
yet neither (there is nothing to weigh).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.orm import Session

from .queries import COLD_START, WEAK_EVIDENCE, VideoRecord, iter_videos, video_query
from .schema import SOURCE_AUTO, VIDEO_MISSING, Video

BONUS = {WEAK_EVIDENCE: 0.5, COLD_START: 0.3}
DISAGREE = 0.4


@dataclass(frozen=True)
class ReviewItem:
    video_id: int
    path: str
    score: float
    reason: str
    genres: tuple[str, ...]  # the genres to look at first

    def to_dict(self) -> dict:
        return {"id": self.video_id, "path": self.path, "score": round(self.score, 4),
                "reason": self.reason, "genres": list(self.genres)}


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def review_score(rec: VideoRecord) -> ReviewItem | None:
    """The review item of one video, or None when it is not worth a look (see module)."""
    if rec.corrected or rec.classified_at is None or rec.status == VIDEO_MISSING:
        return None
    reasons: list[str] = []
    score = 0.0
    focus: list[str] = []
    if rec.metadata_genres is not None:
        meta = set(rec.metadata_genres)
        clash = []
        for g, st in rec.states.items():
            if st.probability is None:
                continue
            if abs(st.probability - (1.0 if g in meta else 0.0)) > 0.5:
                clash.append(g)
        if not clash:
            return None
        score += DISAGREE * len(clash)
        focus += clash
        reasons.append("the head disagrees with the imported labels on " + ", ".join(clash))
    else:
        best_g, best_c = None, 0.0
        for g, st in rec.states.items():
            if st.source != SOURCE_AUTO or st.probability is None or st.threshold is None:
                continue
            c = max(0.0, 1.0 - abs(_logit(st.probability) - _logit(st.threshold)) / 4.0)
            if c > best_c:
                best_g, best_c = g, c
        if best_g is not None and best_c > 0:
            score += best_c
            focus.append(best_g)
            st = rec.states[best_g]
            reasons.append(f"unsure about {best_g} ({st.probability:.0%}, threshold "
                           f"{st.threshold:.0%})")
        bonus = BONUS.get(rec.label_state, 0.0)
        if bonus:
            score += bonus
            reasons.append(f"only the cold-start head has seen it ({rec.label_state})")
        focus += [g for g in rec.suggestions[:2] if g not in focus]
    if score <= 0:
        return None
    return ReviewItem(rec.id, rec.path, score, "; ".join(reasons), tuple(focus))


def iter_review(session: Session) -> Iterator[ReviewItem]:
    for rec in iter_videos(session, video_query(missing=False).where(Video.classified_at.is_not(None))):
        item = review_score(rec)
        if item is not None:
            yield item


def review_queue(session: Session, limit: int | None = 20) -> list[ReviewItem]:
    """The videos to label next, most useful first (ties: by path)."""
    items = sorted(iter_review(session), key=lambda i: (-i.score, i.path))
    return items if limit is None else items[:limit]

