"""Planted-signal trailers: synthetic feature sequences whose Bayes-optimal answer is known.

Labels follow a Gaussian copula: a latent ``z ~ N(0, C)`` with a genre correlation matrix
``C`` built from a few interpretable factors (dark: Crime/Thriller/Mystery/Horror; spectacle:
Action/Adventure/Sci-Fi/Fantasy; family: Animation/Family/Comedy; ...), and genre ``g`` is on
when ``z_g`` exceeds the threshold giving MovieNet-like prevalence (Drama ~48 %, Comedy ~32 %,
Thriller ~21 % ... Western ~1.3 %).

Evidence about ``z`` is planted in the sequences in two ways, both linear-Gaussian in ``z`` so
the posterior ``P(y_g = 1 | what the model sees)`` is exact (a 21-dimensional Gaussian
posterior, then a normal tail probability):

* **spread** evidence: every row of modality ``m`` carries ``a * (z_g + eta) * u_g`` for its
  genres plus isotropic noise; the time-mean is a sufficient statistic, so averaging heads
  can reach the Bayes score.
* **event** evidence (``event_code="pair"``): for some genres an observation
  ``r_g = z_g + eta`` is written as two short events (3 rows each) at random places in a long
  sequence, ``+|r_g| e`` and ``-|r_g| e`` with ``e = (v_g + sign(r_g) w_g) / sqrt(2)``.  The two
  events cancel in the time-mean, so averaging loses ``r_g`` entirely; a per-row nonlinearity
  (``(x.v)(x.w) = sign(r) r^2 / 2`` on event rows, 0 elsewhere) pooled by attention reads it.
* **order** evidence (``event_code="order"``): the same two events along ``v_g`` only, with
  the sign of ``r_g`` told by which comes first: a harder, purely positional read.

A modality can be missing for a fraction of videos; the Bayes score then drops that
modality's evidence, as a head must.  The Bayes score is computed on exactly the rows a head
sees at inference (even subsampling to ``max_len``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm

from ..core.classify.batching import sample_indices
from ..core.genres import GENRE_INDEX, GENRES

# Approximate MovieNet trailer label frequencies (the seed paper's data), in GENRES order.
MOVIENET_PREVALENCE: dict[str, float] = {
    "Action": 0.20, "Adventure": 0.13, "Animation": 0.04, "Biography": 0.05, "Comedy": 0.32,
    "Crime": 0.16, "Documentary": 0.02, "Drama": 0.48, "Family": 0.06, "Fantasy": 0.065,
    "History": 0.04, "Horror": 0.10, "Music": 0.03, "Musical": 0.02, "Mystery": 0.08,
    "Romance": 0.17, "Sci-Fi": 0.07, "Sport": 0.02, "Thriller": 0.21, "War": 0.03,
    "Western": 0.013,
}

# Co-occurrence factors: loadings of each genre on a few latent "tastes".
_FACTORS: dict[str, dict[str, float]] = {
    "dark": {"Crime": 0.6, "Thriller": 0.7, "Mystery": 0.6, "Horror": 0.5, "Comedy": -0.35,
             "Family": -0.4, "Animation": -0.3, "Romance": -0.2},
    "spectacle": {"Action": 0.7, "Adventure": 0.6, "Sci-Fi": 0.5, "Fantasy": 0.45, "War": 0.3,
                  "Western": 0.3, "Drama": -0.3},
    "family": {"Animation": 0.7, "Family": 0.7, "Adventure": 0.3, "Fantasy": 0.35, "Comedy": 0.3,
               "Musical": 0.25},
    "serious": {"Drama": 0.6, "Biography": 0.55, "History": 0.6, "War": 0.45, "Sport": 0.2,
                "Documentary": 0.2, "Comedy": -0.3, "Music": 0.2},
    "heart": {"Romance": 0.6, "Drama": 0.3, "Musical": 0.4, "Music": 0.4, "Comedy": 0.2},
}


def genre_correlation() -> np.ndarray:
    """A valid correlation matrix ``W W^T + diag(1 - |W_g|^2)`` from the factor loadings."""
    w = np.zeros((len(GENRES), len(_FACTORS)))
    for j, loads in enumerate(_FACTORS.values()):
        for g, v in loads.items():
            w[GENRE_INDEX[g], j] = v
    row = (w * w).sum(1)
    scale = np.where(row > 0.9, np.sqrt(0.9 / np.maximum(row, 1e-9)), 1.0)
    w *= scale[:, None]
    return w @ w.T + np.diag(1.0 - (w * w).sum(1))


@dataclass
class PlantedTask:
    """One benchmark task: modalities, where evidence lives, what is missing."""

    name: str
    dims: dict[str, int]
    lengths: dict[str, tuple[int, int]]  # inclusive range of T per modality
    max_len: dict[str, int]
    spread: dict[str, dict[str, float]]  # modality -> genre -> strength a
    order_modality: str | None = None
    order_genres: tuple[str, ...] = ()
    order_amplitude: float = 3.0
    event_code: str = "order"  # "order" (sign by which event comes first) | "pair" (see doc)
    missing: dict[str, float] = field(default_factory=dict)  # modality -> P(missing)
    noise: float = 1.0  # per-row isotropic noise std
    latent_noise: float = 0.6  # per-video noise on each observation of z_g
    event_len: int = 3


def default_spread() -> dict[str, dict[str, float]]:
    return {
        "image": {g: 0.5 for g in ("Action", "Adventure", "Animation", "Fantasy", "Sci-Fi", "War",
                                   "Western", "Family", "Horror", "History")},
        "audio": {g: 0.5 for g in ("Action", "Horror", "Thriller", "War", "Sport", "Comedy",
                                   "Documentary", "Crime")},
        "asr": {g: 0.5 for g in ("Drama", "Comedy", "Crime", "Romance", "Biography", "History",
                                 "Documentary", "Mystery", "Sport", "Thriller")},
        "music": {g: 0.5 for g in ("Music", "Musical", "Horror", "Romance", "Family", "Western")},
    }


def make_task(name: str, scale: str = "bench") -> PlantedTask:
    """The benchmark's tasks: ``spread``, ``event``, ``order`` and ``missing`` (module doc)."""
    if scale == "seed":  # the seed paper's dimensions and lengths (timing runs)
        dims = {"clip": 512, "ocr": 384, "asr": 384, "audio": 521, "music": 50}
        lengths = {k: (100, 200) for k in dims}
        max_len = dict.fromkeys(dims, 150)
        spread = default_spread()
        spread["clip"] = spread.pop("image")
        spread["ocr"] = {"Documentary": 0.4, "Biography": 0.4, "History": 0.4}
        return PlantedTask(name, dims, lengths, max_len, spread)
    dims = {"image": 96, "audio": 48, "asr": 48, "music": 24}
    lengths = {"image": (40, 80), "audio": (10, 40), "asr": (2, 16), "music": (5, 20)}
    max_len = {"image": 64, "audio": 32, "asr": 16, "music": 16}
    spread = default_spread()
    if name == "spread":
        return PlantedTask(name, dims, lengths, max_len, spread)
    if name in ("order", "event"):
        order = ("Horror", "Mystery", "Thriller", "Western", "War", "Sci-Fi")
        spread = {m: {g: a for g, a in gs.items() if g not in order} for m, gs in spread.items()}
        return PlantedTask(name, dims, lengths, max_len, spread, order_modality="image",
                           order_genres=order, event_code="order" if name == "order" else "pair")
    if name == "missing":
        return PlantedTask(name, dims, lengths, max_len, spread, missing={"audio": 0.5, "music": 0.3})
    raise ValueError(f"unknown planted task {name!r}")


class PlantedData(Sequence):
    """A lazy ``Sequence[Sample]`` of planted-signal videos (rows generated on access).

    ``labels`` ``[N, 21]`` is precomputed; ``bayes_probs()`` gives the Bayes-optimal
    probabilities for what a head sees at inference.
    """

    def __init__(self, task: PlantedTask, n: int, seed: int = 0) -> None:
        if task.order_modality is not None:
            need = 2 * len(task.order_genres) * task.event_len
            lo = task.lengths[task.order_modality][0]
            if lo < need:
                raise ValueError(f"task {task.name!r}: {task.order_modality} sequences of {lo} rows "
                                 f"cannot hold {2 * len(task.order_genres)} events of {task.event_len} rows")
            if task.lengths[task.order_modality][1] > 2 * task.max_len[task.order_modality]:
                raise ValueError(f"task {task.name!r}: subsampling to max_len could drop whole events")
        self.task = task
        self.n = n
        self.seed = seed
        basis_rng = np.random.default_rng([1234, len(task.name)])  # shared across splits
        self.corr = genre_correlation()
        self.thresholds = norm.isf(np.array([MOVIENET_PREVALENCE[g] for g in GENRES]))
        rng = np.random.default_rng([seed, 99])
        self.z = rng.multivariate_normal(np.zeros(len(GENRES)), self.corr, size=n)
        self.labels = (self.z > self.thresholds).astype(np.float32)
        self.basis: dict[str, np.ndarray] = {}
        self.order_basis: np.ndarray | None = None
        self.pair_basis: np.ndarray | None = None
        for m, d in task.dims.items():
            k = len(task.spread.get(m, {})) + (2 * len(task.order_genres) if m == task.order_modality else 0)
            q, _ = np.linalg.qr(basis_rng.normal(size=(d, max(k, 1))))
            self.basis[m] = q[:, : len(task.spread.get(m, {}))]
            if m == task.order_modality:
                first = len(task.spread.get(m, {}))
                self.order_basis = q[:, first : first + len(task.order_genres)]
                self.pair_basis = q[:, first + len(task.order_genres) : k]
        self.lengths = {m: rng.integers(lo, hi + 1, size=n) for m, (lo, hi) in task.lengths.items()}
        self.is_missing = {m: rng.random(n) < task.missing.get(m, 0.0) for m in task.dims}

    def __len__(self) -> int:
        return self.n

    def _generate(self, i: int) -> tuple[dict[str, np.ndarray], list[tuple[int, float, float]]]:
        """Rows of video ``i`` plus its observations ``(genre, value, noise variance)``."""
        t = self.task
        rng = np.random.default_rng([self.seed, i])
        z = self.z[i]
        arrays: dict[str, np.ndarray] = {}
        obs: list[tuple[int, float, float]] = []
        for m, d in t.dims.items():
            length = int(self.lengths[m][i])
            x = rng.normal(scale=t.noise, size=(length, d))
            gs = list(t.spread.get(m, {}).items())
            eta = rng.normal(scale=t.latent_noise, size=len(gs))
            if gs:
                a = np.array([s for _, s in gs])
                coef = a * (np.array([z[GENRE_INDEX[g]] for g, _ in gs]) + eta)
                x += coef @ self.basis[m].T
            eta_o = rng.normal(scale=t.latent_noise, size=len(t.order_genres))
            if m == t.order_modality and self.order_basis is not None and self.pair_basis is not None:
                v, w = self.order_basis, self.pair_basis
                both = np.concatenate([v, w], axis=1)
                x -= (x @ both) @ both.T  # background carries nothing along the event directions
                k = t.event_len
                slots = rng.permutation(length // k)[: 2 * len(t.order_genres)]
                for j, g in enumerate(t.order_genres):
                    r = z[GENRE_INDEX[g]] + eta_o[j]
                    first, second = sorted(slots[2 * j : 2 * j + 2])
                    sign = 1.0 if r > 0 else -1.0
                    if t.event_code == "pair":
                        e = t.order_amplitude * abs(r) * (v[:, j] + sign * w[:, j]) / np.sqrt(2.0)
                    else:  # "order": the sign is which event comes first
                        e = sign * t.order_amplitude * abs(r) * v[:, j]
                    x[first * k : first * k + k] += e
                    x[second * k : second * k + k] -= e
            if self.is_missing[m][i]:
                continue
            arrays[m] = x.astype(np.float32)
            seen = x[sample_indices(length, t.max_len[m])]
            if gs:
                proj = seen.mean(0) @ self.basis[m] / a
                var = t.latent_noise**2 + t.noise**2 / (len(seen) * a * a)
                obs += [(GENRE_INDEX[g], float(proj[j]), float(var[j])) for j, (g, _) in enumerate(gs)]
            if m == t.order_modality:
                obs += [(GENRE_INDEX[g], float(z[GENRE_INDEX[g]] + eta_o[j]), t.latent_noise**2)
                        for j, g in enumerate(t.order_genres)]
        return arrays, obs

    def __getitem__(self, i):  # type: ignore[override]
        i = int(i)
        return self._generate(i)[0], self.labels[i]

    def bayes_probs(self) -> np.ndarray:
        """Exact ``P(y = 1 | rows seen at inference)`` for every video, ``[N, 21]``."""
        prior_prec = np.linalg.inv(self.corr)
        out = np.zeros((self.n, len(GENRES)))
        for i in range(self.n):
            _, obs = self._generate(i)
            lam = np.zeros(len(GENRES))
            h = np.zeros(len(GENRES))
            for g, value, var in obs:
                lam[g] += 1.0 / var
                h[g] += value / var
            cov = np.linalg.inv(prior_prec + np.diag(lam))
            mu = cov @ h
            out[i] = norm.sf((self.thresholds - mu) / np.sqrt(np.diag(cov)))
        return out
