"""The one model store every extractor and head goes through.

Resolution order for a model id (manifests in ``trailertagger/resources/models/*.toml``):
  1. the override directory (config ``models.override_dir`` or ``TRAILERTAGGER_MODELS``),
  2. the user cache folder (``AppDirs.models``),
  3. an installed Python package that ships the weights,
  4. a download (progress, sha256 check, atomic rename, resumable) only when allowed and online.
A model that resolves nowhere raises ``ModelMissingError`` naming the model and where to put
its files.  Nothing ever falls back to random weights.

CONTRACT (implemented by the model-store work; other modules rely on exactly this API):

    store = ModelStore.from_config(settings)          # or ModelStore(override_dir=..., cache_dir=..., allow_download=...)
    spec = store.spec("effnet-lite0-imagenet")        # ModelSpec from the manifest
    res = store.resolve("effnet-lite0-imagenet")      # ResolvedModel; raises ModelMissingError
    res.path        # Path: the main file, or the model directory for multi-file models
    res.source      # "override" | "cache" | "package" | "download"
    res.sha256      # checksum of the main file (verified against the manifest when it pins one)
    res.model_id    # the id
    store.specs()   # all ModelSpec, for `trailertagger models list`
    store.check(model_id) -> CheckResult  # resolves + verifies every file's checksum
"""
