"""Pretrained weights from local files named in config: one loader, one kind of error."""

from __future__ import annotations

from pathlib import Path

from .errors import ConfigError


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
