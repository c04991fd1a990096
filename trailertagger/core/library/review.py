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


def closeness(p: float, threshold: float) -> float:
    """How near ``p`` is to its decision threshold: 1 on it, 0 four log-odds or more away."""
    return max(0.0, 1.0 - abs(_logit(p) - _logit(threshold)) / 4.0)


def priority(probs: dict[str, float], thresholds: dict[str, float],
             state: str | None = None) -> tuple[float, str | None]:
    """The review score of an unlabelled video from its probabilities, the head's thresholds
    and its label state (what ``review_score`` and the learning benchmark rank by), and the
    genre the head is least sure about."""
    best_g, best_c = None, 0.0
    for g, p in probs.items():
        if g not in thresholds:
            continue
        c = closeness(p, thresholds[g])
        if c > best_c:
            best_g, best_c = g, c
    return best_c + BONUS.get(state or "", 0.0), best_g


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
        auto = {g: st for g, st in rec.states.items() if st.source == SOURCE_AUTO
                and st.probability is not None and st.threshold is not None}
        best_c, best_g = priority({g: st.probability for g, st in auto.items()},  # type: ignore[misc]
                                  {g: st.threshold for g, st in auto.items()})  # type: ignore[misc]
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


def needs_review_clause(max_logit_gap: float = 2.0):  # noqa: ANN201 - a SQL expression
    """SQL condition for the app's "needs review" filter, the same reasons as ``review_score``
    in SQL: a classified video without corrections that only the cold-start head has seen
    (and no metadata labels), or with an auto probability within ``max_logit_gap`` log-odds of
    its threshold (odds ratio test, no ``exp`` needed in SQLite), or whose metadata label the
    head contradicts (|p - label| > 0.5)."""
    from sqlalchemy import and_, exists, not_, or_, select
    from sqlalchemy.orm import aliased

    from .schema import SOURCE_MANUAL, SOURCE_METADATA, GenreAssignment

    a = aliased(GenreAssignment)
    m = aliased(GenreAssignment)
    manual = exists().where(m.video_id == Video.id, m.source == SOURCE_MANUAL)
    meta = aliased(GenreAssignment)
    has_meta = exists().where(meta.video_id == Video.id, meta.source == SOURCE_METADATA)
    r = math.exp(max_logit_gap)
    odds = a.probability * (1 - a.threshold)
    base = (1 - a.probability) * a.threshold
    near = exists().where(a.video_id == Video.id, a.source == SOURCE_AUTO,
                          a.probability.is_not(None), a.threshold.is_not(None),
                          odds < r * base, odds * r > base)
    mm = aliased(GenreAssignment)
    aa = aliased(GenreAssignment)
    clash = exists(select(aa.id).join(mm, and_(mm.video_id == aa.video_id, mm.genre == aa.genre))
                   .where(aa.video_id == Video.id, aa.source == SOURCE_AUTO,
                          mm.source == SOURCE_METADATA,
                          or_(and_(mm.positive == True, aa.probability < 0.5),  # noqa: E712
                              and_(mm.positive == False, aa.probability > 0.5))))  # noqa: E712
    return and_(not_(manual), Video.classified_at.is_not(None), Video.status != VIDEO_MISSING,
                or_(and_(not_(has_meta), or_(Video.evidence_state.is_not(None), near)),
                    and_(has_meta, clash)))


def iter_review(session: Session) -> Iterator[ReviewItem]:
    for rec in iter_videos(session, video_query(missing=False).where(Video.classified_at.is_not(None))):
        item = review_score(rec)
        if item is not None:
            yield item


def review_queue(session: Session, limit: int | None = 20) -> list[ReviewItem]:
    """The videos to label next, most useful first (ties: by path)."""
    items = sorted(iter_review(session), key=lambda i: (-i.score, i.path))
    return items if limit is None else items[:limit]

