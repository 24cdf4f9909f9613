"""Pretrained weights from local files named in config: the pretrained/random/off choice, one
loader, one hash, one way to name them in tables, and the parse-time check that the files exist."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .errors import ConfigError


def is_pretrained(mode: str, weights: str | None, key: str, needs: str) -> bool:
    """Whether a network loads weights (``mode: pretrained``) or stays a seeded untrained one
    (``random``); a pretrained network without a weights file, or another mode, is a config error.
    ``off`` is the caller's to handle (no network at all)."""
    if mode not in ("pretrained", "random"):
        raise ConfigError(f"{key}.mode must be pretrained, random or off, not {mode!r}")
    if mode == "pretrained" and not weights:
        raise ConfigError(f"{key}.weights: {needs}; set it, or {key}.mode: random|off")
    return mode == "pretrained"


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def provenance(path: str | Path, digest: str) -> str:
    """How every table names a pretrained weights file: its name and the start of its sha256."""
    return f"pretrained:{Path(path).name}:sha256={digest[:16]}"


def load_state_dict(path: str | Path, key: str) -> dict:
    """A torch state dict from a local file (``weights_only=True``).

    A missing, truncated or otherwise unreadable file stops the run with a one-line
    :class:`ConfigError` naming the config key, never a traceback from inside torch.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{key}: {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated zip, bad pickle, not a torch file
        raise ConfigError(f"{key}: {path} is not a readable torch state dict ({type(exc).__name__}); "
                          "download it again or point the key at another file") from None  # fmt: skip
    if not isinstance(state, dict):
        raise ConfigError(f"{key}: {path} holds a {type(state).__name__}, not a state dict")
    return state


# Keys whose weights files a run reads: the config section, and where its mode and file live.
WEIGHTS_KEYS = ("gan.vgg", "metrics.fid_imagenet", "metrics.fid_radimagenet", "metrics.lpips")


def _section(config: dict, dotted: str) -> dict:
    out = config
    for part in dotted.split("."):
        out = out[part]
    return out


def missing_files(config: dict, training: bool = True) -> list[str]:
    """Weights files the config names (or needs) that are not there, one line each (the VGG19 of
    the perceptual loss only when the GAN trains).

    Checked when the workflow is parsed, so that a run that would fail in its first Table 1 job,
    hours after GAN training started, fails before anything runs. Relative paths are read from
    the working directory, as the jobs read them.
    """
    problems = []
    for key in WEIGHTS_KEYS:
        section = _section(config, key)
        if section.get("mode") != "pretrained":
            continue
        if key == "gan.vgg" and (not training or float(config["gan"]["lambda_vgg"]) <= 0):
            continue
        weights = section.get("weights")
        if not weights:
            problems.append(f"{key}.weights is not set, but {key}.mode is pretrained: name the local "
                            f"weights file, or set {key}.mode: random|off")  # fmt: skip
        elif not Path(weights).is_file():
            problems.append(f"{key}.weights: {weights} does not exist")
    init = config["gan"].get("init_generator")
    if init and not Path(init).is_file():
        problems.append(f"gan.init_generator: {init} does not exist")
    return problems
