"""Which models a profile's extractors load: what ``models list --profile P`` shows."""

from __future__ import annotations

from ..extractors.base import extractor_class, is_optional, profile_extractors


def profile_models(profile: str) -> dict[str, list[str]]:
    """``{model id: [extractor names]}`` for every model the profile's extractors load,
    in extractor order (``KeyError`` for an unknown profile)."""
    out: dict[str, list[str]] = {}
    for name in profile_extractors(profile):
        for model_id in getattr(extractor_class(name), "model_ids", ()):
            out.setdefault(model_id, []).append(name + (" (optional)" if is_optional(name) else ""))
    return out
