"""Fixtures of the fault-injection suite."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 16 MiB tmpfs mounted for one test (skipped where mounting is not allowed)."""
    mnt = tmp_path / "small disk"
    mnt.mkdir()
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", str(mnt)],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as err:
        pytest.skip(f"cannot mount a tmpfs for the full-disk case ({err}); needs root or "
                    "CAP_SYS_ADMIN")
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs for the full-disk case (needs root or CAP_SYS_ADMIN): "
                    + (r.stderr.strip() or f"mount exited {r.returncode}"))
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=30)
