"""Unknown and renamed config keys, named by their path.

The schema refuses unknown keys, but its message is a dump of the schema; a typo such as
``metrics.fid_imagnet`` deserves one line with the key's path and the nearest known key, and a key
or value of an older version one line with its new name (``common.smk`` asks for them when the
schema validation fails).
"""

from __future__ import annotations

import difflib
from typing import Any

# Renamed so that each name has one meaning: "source" is where the cohort comes from (data.source,
# its DICOM series and headers); the generator reads its input, and volumes come in scanner units.
# gan.augment chooses the augmentation (the paper's rotation or the authors' flip); its chance is
# no longer a rotation's.
RENAMED_KEYS = {"gan.source": "gan.input", "gan.rotate_probability": "gan.augment_probability"}
RENAMED_VALUES = {"synthesis.intensity": ("source", "scanner")}
# Rules renamed when pix2pixHD became one family among four: their names serve every family
# (resources.<rule> keys and --forcerun targets name them).
RENAMED_RULES = {"train_gan_epoch": "train_epoch", "train_gan_epoch_nodes": "train_epoch_nodes", "init_gan": "init_model",
                 "gan_training_log": "training_log", "preview_gan": "preview_model"}  # fmt: skip
# Folders renamed with them: a results tree of an earlier version is named by one message.
RENAMED_FOLDERS = {"results/gan": "results/models"}


def renamed_folders(workdir: str = ".", retrain: list[str] | tuple[str, ...] = ()) -> list[str]:
    """One message per results folder of an earlier version found under ``workdir``; ``retrain``:
    the further models (their families changed with the rename, so they must train again)."""
    from pathlib import Path

    forced = " ".join(f"results/models/{r}/state/epoch_0.pt" for r in retrain)
    again = (f", then retrain the further models, whose families changed (snakemake --cores all --forcerun {forced})"
             if retrain else "")  # fmt: skip
    return [f"{old}/ is where an earlier version kept the training runs; they are now in {new}/. To keep them: "
            f"mv {old} {new}, mark the tree current once (snakemake --touch --cores 1){again}. Or delete {old}/"
            for old, new in RENAMED_FOLDERS.items() if (Path(workdir) / old).is_dir()]  # fmt: skip


def _at(config: Any, dotted: str) -> Any:
    """The value at a dotted key path, or None where the path does not lead to one."""
    for part in dotted.split("."):
        config = config.get(part) if isinstance(config, dict) else None
    return config


def renamed(config: dict[str, Any]) -> list[str]:
    """One message per key or value of ``config`` that an older version used, with its new name."""
    problems = []
    for old, new in RENAMED_KEYS.items():
        block, key = old.rsplit(".", 1)
        parent = _at(config, block)
        if isinstance(parent, dict) and key in parent:
            problems.append(f"{old} is now called {new}: write its value there and remove {old}")
    for key, (old, new) in RENAMED_VALUES.items():
        if _at(config, key) == old:
            problems.append(f"{key}: {old} is now called {new}")
    return problems


def unknown_keys(config: dict[str, Any], schema: dict[str, Any], path: str = "") -> list[str]:
    """One message per key of ``config`` the schema does not know, at every level where the schema
    lists its properties and allows no others (the top level included)."""
    props = schema.get("properties")
    if not isinstance(config, dict) or props is None:
        return []
    closed = schema.get("additionalProperties") is False or not path
    problems = []
    for key, value in config.items():
        where = f"{path}{key}"
        if key in props:
            problems += unknown_keys(value, props[key], f"{where}.")
        elif closed and where not in RENAMED_KEYS:
            near = difflib.get_close_matches(str(key), list(props), n=1, cutoff=0.6)
            hint = f" (did you mean {path}{near[0]}?)" if near else f" (known here: {', '.join(props)})"
            problems.append(f"unknown key {where}{hint}")
    return problems
