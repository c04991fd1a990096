"""``trailertagger models list|check|path|fetch``: what the model store can load, from where.

``list`` is cheap (hashes come from the store's verify cache), ``check`` re-hashes every file
so silent corruption shows up, ``path`` prints where a model resolves (for scripts) or where
its files should go, and ``fetch`` downloads a downloadable model with a progress bar.

Exit codes: 0 ok; 4 when a model asked about (or one the chosen profile needs) is missing or
fails its checksum; 2 for an unknown model id or a broken manifest.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, NoReturn

from ..core.app import models_view as model_rules
from ..core.errors import ModelChecksumError, ModelMissingError, UsageError
from ..core.extractors import base as extractor_base
from ..core.units import human_bytes
from .common import model_store, progress_bar, settings

EXIT_OK, EXIT_USAGE, EXIT_MODEL = 0, 2, 4


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="list, check and locate the pretrained models",
        description="Show every model the app can load, where it resolves from (override "
                    "folder, user cache, installed package), its size and sha256.",
    )
    msub = p.add_subparsers(dest="models_command", metavar="ACTION")

    pl = msub.add_parser("list", help="every model, its source, size and checksum",
                         description="List every model manifest with where it resolves from "
                                     "(or 'missing'), size on disk and the sha256 of its main file.")
    pl.add_argument("--json", action="store_true", help="one JSON object per model on stdout")
    pl.add_argument("--profile", default=None, choices=sorted(extractor_base.PROFILES),
                    help="only the models this profile's extractors load, with source and licence")
    pl.set_defaults(func=run_list)

    pc = msub.add_parser("check", help="re-hash model files and compare with the manifests",
                         description="Re-hash every file of the given models (default: every "
                                     "installed model plus those the profile needs). Exit 4 "
                                     "when one is missing or corrupt.")
    pc.add_argument("ids", nargs="*", metavar="MODEL", help="model ids (default: see above)")
    pc.add_argument("--profile", default=None, choices=sorted(extractor_base.PROFILES),
                    help="profile whose required models must be present (default: from config)")
    pc.add_argument("--json", action="store_true", help="one JSON object per model on stdout")
    pc.set_defaults(func=run_check)

    pp = msub.add_parser("path", help="print where a model resolves (or where to put it)",
                         description="Print the resolved path of MODEL (a file, or the folder of "
                                     "a multi-file model). Missing: print where its files go and "
                                     "exit 4. Without MODEL: print the override and cache folders.")
    pp.add_argument("model", nargs="?", metavar="MODEL", help="model id")
    pp.set_defaults(func=run_path)

    pf = msub.add_parser("fetch", help="download a model into the user cache",
                         description="Download MODEL's files (resumable, checksum-verified) into "
                                     "the user cache. Asking explicitly counts as permission, "
                                     "whatever [models] allow_download says.")
    pf.add_argument("model", metavar="MODEL", help="model id")
    pf.set_defaults(func=run_fetch)

    p.set_defaults(func=lambda args: _usage(p))


def _usage(p: argparse.ArgumentParser) -> NoReturn:
    p.print_help(sys.stderr)
    raise UsageError("name a models command")



def describe(store, spec) -> dict[str, Any]:
    """One model's state without re-hashing (the application layer's rule, as a dict)."""
    row = model_rules.describe(store, spec).to_dict()
    row.pop("required", None)
    return row


def run_list(args: argparse.Namespace) -> int:
    store = model_store()  # a broken manifest is a ConfigError: main reports it, exit 2
    specs = store.specs()
    if getattr(args, "profile", None):
        return _list_profile(store, args.profile, args.json)
    bar = progress_bar(len(specs), "checking models", unit="model")
    rows = []
    for spec in specs:
        rows.append(describe(store, spec))
        bar.update(1)
    bar.close()
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return EXIT_OK
    width = max(len(r["id"]) for r in rows) if rows else 10
    print(f"{'MODEL':<{width}}  {'STATUS':<8} {'SOURCE':<8} {'SIZE':>9}  {'SHA256':<12}  PATH")
    for r in rows:
        size = human_bytes(r["size"]) if r["size"] else "?"
        where = r["path"] or (r["error"].splitlines()[0] if r["error"] else "")
        print(f"{r['id']:<{width}}  {r['status']:<8} {r['source'] or '-':<8} {size:>9}  "
              f"{(r['sha256'] or '-')[:12]:<12}  {where}")
    return EXIT_OK


required_models = model_rules.required_models  # one rule: core/app/models_view.py


def run_check(args: argparse.Namespace) -> int:
    cfg = settings()
    store = model_store(cfg)
    known = {s.id for s in store.specs()}
    unknown = [i for i in args.ids if i not in known]
    if unknown:
        raise UsageError(f"unknown model id(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    profile = args.profile or cfg["extract"]["profile"]
    required = set(args.ids) if args.ids else required_models(store, profile)
    ids = list(args.ids) if args.ids else sorted(known)
    bad = 0
    bar = progress_bar(len(ids), "hashing", unit="model")
    for model_id in ids:
        result = store.check(model_id)
        bar.update(1)
        missing = result.missing
        if missing and model_id not in required:
            status = "absent"  # optional: not installed, not needed by the profile
        elif missing:
            status = "MISSING"
        else:
            status = "ok" if result.ok else "BAD"
        if status in ("MISSING", "BAD"):
            bad += 1
        if args.json:
            print(json.dumps({
                "id": model_id, "status": status.lower(), "required": model_id in required,
                "source": result.source, "path": str(result.path) if result.path else None,
                "error": result.error,
                "files": [{"name": f.name, "path": str(f.path) if f.path else None,
                           "size": f.size, "expected": f.expected, "actual": f.actual,
                           "ok": f.ok, "note": f.note} for f in result.files],
            }, ensure_ascii=False), flush=True)
            continue
        bar.clear()
        print(f"{status:<8} {model_id}" + (f"  ({result.source}: {result.path})" if result.path else ""))
        for f in result.files:
            mark = "ok " if f.ok else "BAD"
            note = f"  [{f.note}]" if f.note else ""
            print(f"   {mark} {f.name}  {human_bytes(f.size)}  sha256 {f.actual or '-'}{note}")
        if status in ("MISSING", "BAD") and result.error:
            for line in result.error.splitlines():
                print(f"   {line}")
        elif status == "absent":
            print("   not installed (not needed by profile "
                  f"{profile!r}; see 'trailertagger models path {model_id}')")
    bar.close()
    if bad:
        print(f"{bad} model(s) missing or corrupt", file=sys.stderr)
    return EXIT_MODEL if bad else EXIT_OK


def run_path(args: argparse.Namespace) -> int:
    store = model_store()
    if not args.model:
        print(f"override: {store.override_dir or '(not set: [models] override_dir or TRAILERTAGGER_MODELS)'}")
        print(f"cache:    {store.cache_dir}")
        return EXIT_OK
    try:
        store.spec(args.model)
    except ModelMissingError as err:
        raise UsageError(str(err)) from None
    try:
        res = store.locate(args.model)
    except ModelChecksumError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_MODEL
    if res is None:
        print(f"error: model {args.model!r} is not installed; put its files in "
              f"{store.folder_for(args.model)}", file=sys.stderr)
        return EXIT_MODEL
    print(res.path)
    return EXIT_OK


def run_fetch(args: argparse.Namespace) -> int:
    bars: dict[str, Any] = {}

    def progress(label: str, done: int, total: int | None) -> None:
        bar = bars.get(label)
        if bar is None:
            bar = bars[label] = progress_bar(total, label, unit="B", leave=True)
            bar.unit_scale = True
        if total:
            bar.total = total
        bar.n = done
        bar.refresh()

    from ..core.models.store import ModelStore

    store = ModelStore.from_config(settings(), progress=progress)
    try:
        store.spec(args.model)
    except ModelMissingError as err:
        raise UsageError(str(err)) from None
    try:
        res = store.resolve(args.model, download_ok=True)
    finally:
        for bar in bars.values():
            bar.close()
    print(f"{res.model_id}: {res.source} {res.path} sha256 {res.sha256}")
    return EXIT_OK


def _list_profile(store, profile: str, as_json: bool) -> int:
    """The profile's models: status, where they come from, size, licence, who loads them."""
    from ..core.models.profiles import profile_models

    wanted = profile_models(profile)
    specs = {s.id: s for s in store.specs()}
    rows = []
    for model_id, users in wanted.items():
        if model_id not in specs:
            rows.append({"id": model_id, "status": "unknown", "error": "no manifest", "used_by": users})
            continue
        row = describe(store, specs[model_id])
        row["used_by"] = users
        rows.append(row)
    if as_json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return EXIT_OK
    print(f"profile {profile!r}: {len(rows)} model(s)")
    for r in rows:
        size = (human_bytes(r["size"]) if r.get("size") else
                f"~{human_bytes(r['approx_size'])}" if r.get("approx_size") else "size ?")
        source = r.get("source") or ("download (models fetch " + r["id"] + ")"
                                     if r.get("downloadable") else "not installed")
        print(f"{r['id']}  [{r['status']}]  {size}  licence: {r.get('license') or '?'}")
        print(f"    {r.get('description', '')}")
        print(f"    source: {source}; home: {r.get('homepage') or '-'}")
        print(f"    used by: {', '.join(r['used_by'])}")
        if r["status"] != "ok" and r.get("error"):
            print(f"    {r['error']}")
    return EXIT_OK
