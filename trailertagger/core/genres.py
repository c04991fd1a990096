"""The 21 genres of the seed paper (arXiv 2410.19760), in the order every head uses."""

from __future__ import annotations

GENRES: tuple[str, ...] = (
    "Action", "Adventure", "Animation", "Biography", "Comedy", "Crime", "Documentary",
    "Drama", "Family", "Fantasy", "History", "Horror", "Music", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Sport", "Thriller", "War", "Western",
)
GENRE_INDEX: dict[str, int] = {g: i for i, g in enumerate(GENRES)}
_CASEFOLD: dict[str, str] = {g.casefold(): g for g in GENRES}
_CASEFOLD.update({"science fiction": "Sci-Fi", "scifi": "Sci-Fi", "sci fi": "Sci-Fi"})


def normalize_genre(name: str) -> str:
    """Return the canonical spelling of a genre name, or raise ``KeyError``.

    Users type "horror", "sci fi" or "Science Fiction"; every layer stores the canonical form.
    """
    key = name.strip().casefold()
    if key not in _CASEFOLD:
        raise KeyError(f"unknown genre {name!r}; known: {', '.join(GENRES)}")
    return _CASEFOLD[key]
