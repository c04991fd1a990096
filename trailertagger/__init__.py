"""trailertagger: tag movie trailers (and any video) with movie genres.

The package is split the way a video travels: ``core.media`` decodes, ``core.extractors``
turn media into per-modality feature sequences, ``core.features`` caches them,
``core.classify`` turns them into genre probabilities, ``core.library`` keeps the results and
``core.jobs`` runs all of it in the background.  ``core`` never imports Qt.
"""

__version__ = "0.1.0"
