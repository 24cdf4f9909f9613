"""Each slice's features computed once: in the job (a memo) and, for real slices, across jobs (on disk).

Every evaluated epoch compares its synthetic slices with the same real validation slices, and
Table 1 of every run with the same real validation and test slices. The features of those real
slices (each FID network's, FRD's radiomics) are the same every time, so they are kept in
``results/features/{metric}/{key}.npy`` (:data:`ROOT`), as MAMA-SYNTH's evaluator caches its
features by content hash. The key is a SHA-256 of:

- the slices' bytes, shapes and dtypes, in order;
- the extractor's provenance (network, weights' SHA-256, input normalisation; seed when untrained);
- the device type and torch's version (a GPU's or another build's features differ in the last digits);
- :data:`VERSION`, raised whenever the feature code changes what it computes.

A job computing an entry holds an exclusive lock on a hidden ``.{key}.lock`` beside it, so that
two jobs starting together (two epochs, two runs) compute it once: the second waits, then reads.
An entry is written to a hidden temporary file beside it and renamed into place, so concurrent
jobs (local or on a cluster's shared file system) read a whole entry or none; an entry that does
not read back as ``len(slices)`` float rows (truncated, another shape) is refused with a warning
and recomputed. The folder can be deleted at any time, and a folder that cannot be written (read-only,
full) only costs time: the job computes, warns, and goes on.

The per-pair values of Table 1's pre-contrast baseline (real post-contrast against real
pre-contrast: pixel metrics, the authors' metrics, LPIPS) are the same in every run's table, and
are kept the same way (:class:`PairValues`, ``results/features/pairs/{key}.npz``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

log = logging.getLogger("dcesynth")

ROOT = "results/features"
# Raise when a feature extractor's code changes its output (the provenance names weights, not code).
VERSION = 1


def slice_keys(slices: np.ndarray) -> list[bytes]:
    """A 16-byte digest of each slice's shape, dtype and bytes."""
    return [hashlib.blake2b(f"{s.shape}{s.dtype.str}".encode() + s.tobytes(), digest_size=16).digest() for s in slices]


class Features:
    """An extractor (a callable from ``(n, H, W)`` slices to ``(n, d)`` features, with a
    ``provenance``) whose features are computed once per slice.

    ``features(slices)`` memoises per slice in this process: Table 1 compares the same real slices
    with the synthetic ones, with the pre-contrast ones and in the split test. ``features.real(slices)``
    also keeps the whole stack's features on disk under ``root`` (none: the memo only), for the
    real slices that other jobs score again. A slice is known by its bytes; the extractors score
    each slice independently (networks in eval mode, per-slice radiomics), so a feature does not
    depend on the batch it was computed in. ``computed`` and ``read`` count slices."""

    def __init__(self, extractor, name: str, root: str | Path | None = None, device: str = "cpu"):
        self.extractor = extractor
        self.name = name
        self.provenance = extractor.provenance
        self.root = Path(root) / name if root is not None else None
        self.device = str(device).split(":")[0]
        self.memo: dict[bytes, np.ndarray] = {}
        self.computed = self.read = 0

    def __call__(self, slices: np.ndarray, keys: list[bytes] | None = None) -> np.ndarray:
        slices = np.ascontiguousarray(slices)
        keys = slice_keys(slices) if keys is None else keys
        todo, new = [], set()
        for i, k in enumerate(keys):  # the first of each slice not computed yet
            if k not in self.memo and k not in new:
                new.add(k)
                todo.append(i)
        if todo:
            for i, f in zip(todo, self.extractor(slices[todo])):
                self.memo[keys[i]] = f
            self.computed += len(todo)
        return np.stack([self.memo[k] for k in keys]) if keys else self.extractor(slices)

    def entry(self, keys: list[bytes]) -> Path:
        """The cache file of a stack of slices (by their :func:`slice_keys`)."""
        torch = sys.modules.get("torch")  # its version: another build may differ in the last digits
        h = hashlib.sha256(f"dcesynth-features v{VERSION}\n{self.name}\n{self.provenance}\n{self.device}\n"
                           f"{getattr(torch, '__version__', '')}\n{len(keys)}\n".encode())  # fmt: skip
        for k in keys:
            h.update(k)
        return self.root / f"{h.hexdigest()}.npy"

    def real(self, slices: np.ndarray) -> np.ndarray:
        """Features of real slices, from the disk cache when a job computed them before."""
        if self.root is None or not len(slices):
            return self(slices)
        slices = np.ascontiguousarray(slices)
        keys = slice_keys(slices)
        if all(k in self.memo for k in keys):  # this job has them (another row of Table 1)
            return self(slices, keys)
        path = self.entry(keys)
        with _locked(path, self.name):  # a job computing this entry now: wait for it, then read
            cached = self._load(path, len(keys))
            if cached is not None:
                self.memo.update(zip(keys, cached))
                self.read += len(keys)
                log.info("%s: features of %d real slices read from %s", self.name, len(keys), path)
                return cached
            before = self.computed
            features = self(slices, keys)
            _store(path, self.name, lambda f: np.save(f, np.asarray(features)))
        log.info("%s: features of %d real slices computed (%d new in this job), cached in %s", self.name, len(keys),
                 self.computed - before, path)  # fmt: skip
        return features

    def _load(self, path: Path, n: int) -> np.ndarray | None:
        try:
            features = np.load(path, allow_pickle=False)
            if features.ndim != 2 or features.shape[0] != n or features.dtype.kind != "f":
                raise ValueError(f"holds {features.dtype} {features.shape}, not {n} feature rows")
        except FileNotFoundError:  # not computed yet (or deleted meanwhile)
            return None
        except (OSError, ValueError, EOFError) as e:
            log.warning("%s: feature cache entry %s refused (%s); recomputing it", self.name, path, e)
            return None
        return features


class PairValues:
    """Per-pair values of metrics comparing two stacks of real slices, computed once across jobs:
    Table 1's pre-contrast baseline (the real post-contrast slices against the real pre-contrast
    ones) is the same in every run's table. ``values(a, b, compute)`` is ``compute()``'s
    ``{metric: (n,) array}``, read from ``root/pairs/{key}.npz`` where a job computed it before
    (locked, written and refused as the features are). The key: both stacks' slice keys,
    ``settings`` (what the values depend on besides the slices: the metrics' options, LPIPS'
    network), the device type, torch's version and :data:`VERSION`. ``computed`` and ``read``
    count pairs."""

    def __init__(self, root: str | Path, settings: str, device: str = "cpu"):
        self.root = Path(root) / "pairs"
        self.settings = settings
        self.device = str(device).split(":")[0]
        self.computed = self.read = 0

    def entry(self, a: np.ndarray, b: np.ndarray) -> Path:
        torch = sys.modules.get("torch")
        h = hashlib.sha256(f"dcesynth-pairs v{VERSION}\n{self.settings}\n{self.device}\n"
                           f"{getattr(torch, '__version__', '')}\n{len(a)} {len(b)}\n".encode())  # fmt: skip
        for k in slice_keys(np.ascontiguousarray(a)) + slice_keys(np.ascontiguousarray(b)):
            h.update(k)
        return self.root / f"{h.hexdigest()}.npz"

    def values(self, a: np.ndarray, b: np.ndarray, compute) -> dict[str, np.ndarray]:
        path = self.entry(a, b)
        with _locked(path, "pair values"):
            cached = self._load(path, len(a))
            if cached is not None:
                self.read += len(a)
                log.info("values of %d pairs of real slices read from %s", len(a), path)
                return cached
            values = {k: np.asarray(v) for k, v in compute().items()}
            self.computed += len(a)
            _store(path, "pair values", lambda f: np.savez(f, **values))
        log.info("values of %d pairs of real slices computed, cached in %s", len(a), path)
        return values

    @staticmethod
    def _load(path: Path, n: int) -> dict[str, np.ndarray] | None:
        try:
            with np.load(path, allow_pickle=False) as z:
                values = {k: z[k] for k in z.files}
            bad = [k for k, v in values.items() if v.shape != (n,) or v.dtype.kind != "f"]
            if not values or bad:
                raise ValueError(f"holds {', '.join(bad) or 'nothing'}, not {n} values per metric")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
            log.warning("pair values: cache entry %s refused (%s); recomputing it", path, e)
            return None
        return values


@contextlib.contextmanager
def _locked(path: Path, what: str):
    """An exclusive ``flock`` on a hidden lock file beside the entry ``path``, released when this
    job ends however it ends; where the file system has no locks, none (both jobs compute)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path.with_name(f".{path.stem}.lock"), "a")  # noqa: SIM115 - closed below
    except OSError as e:  # a read-only or full file system: the cache only saves time
        log.warning("%s: no lock in %s (%s); computing without one", what, path.parent, e)
        yield
        return
    with fh:
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("%s: waiting for another job computing %s", what, path)
                fcntl.flock(fh, fcntl.LOCK_EX)
        except OSError as e:  # e.g. ENOLCK on a file system without locks
            log.warning("%s: no lock on %s (%s); computing without one", what, path.parent, e)
        yield


def _store(path: Path, what: str, write) -> None:
    """``write(file)`` to a hidden temporary file beside ``path``, renamed into place."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:  # (the folder was made by _locked, or could not be: then this fails alike)
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic: another job reads the old entry, the new one, or none
    except OSError as e:  # read-only, full: the job goes on with what it computed
        log.warning("%s: cache entry %s not written (%s)", what, path, e)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
