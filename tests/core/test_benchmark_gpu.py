"""``benchmarks/gpu.py`` runs on the CPU and prints its table (the GPU figures come from the
same script on a GPU machine; no test depends on one)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_gpu_benchmark_prints_its_table_on_the_cpu():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--device", "cpu",
                          "--quick", "--profiles", "minimal"], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "device: requested cpu, using cpu" in text
    assert "trailers/min" in text and "trailers/s" in text
    row = next(line for line in text.splitlines() if line.strip().startswith("minimal"))
    assert "image.effnet_lite0=cpu" in row and "audio.yamnet=cpu" in row
    assert float(row.split()[3]) > 0  # trailers per minute
    assert "CPUExecutionProvider" in text
