"""Session fixtures with real media (owned by the media work; see trailertagger.devtools.mediagen)."""
