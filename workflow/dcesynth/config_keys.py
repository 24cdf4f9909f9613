"""Unknown and renamed config keys, named by their path.

The schema refuses unknown keys, but its message is a dump of the schema; a typo such as
``metrics.fid_imagnet`` deserves one line with the key's path and the nearest known key, and a key
or value of an older version one line with its new name (``common.smk`` asks for them when the
schema validation fails).
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path
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


def _deref(node: Any, root: dict[str, Any]) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = root["$defs"][node["$ref"].split("/")[-1]]
    return node


def unknown_keys(config: dict[str, Any], schema: dict[str, Any], path: str = "",
                 root: dict[str, Any] | None = None) -> list[str]:
    """One message per key of ``config`` the schema does not know, at every level where the schema
    lists its properties and allows no others (the top level included), and inside mappings of
    named entries (a model, a rule's resources, a segmentation scenario)."""
    root = schema if root is None else root
    schema = _deref(schema, root)
    props = schema.get("properties")
    extra = _deref(schema.get("additionalProperties"), root)
    if not isinstance(config, dict):
        return []
    if props is None:
        if isinstance(extra, dict):  # a mapping of named entries: check each entry
            return [p for key, value in config.items() for p in unknown_keys(value, extra, f"{path}{key}.", root)]
        return []
    closed = schema.get("additionalProperties") is False or not path
    problems = []
    for key, value in config.items():
        where = f"{path}{key}"
        if key in props:
            problems += unknown_keys(value, props[key], f"{where}.", root)
        elif isinstance(extra, dict):
            problems += unknown_keys(value, extra, f"{where}.", root)
        elif closed and where not in RENAMED_KEYS:
            near = difflib.get_close_matches(str(key), list(props), n=1, cutoff=0.6)
            hint = f" (did you mean {path}{near[0]}?)" if near else f" (known here: {', '.join(props)})"
            problems.append(f"unknown key {where}{hint}")
    return problems


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def schema_errors(config: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """One line per value the schema refuses, named by its key path (instead of the validator's dump
    of the schema). A number YAML read as text (``2e-4``: YAML 1.1 wants ``2.0e-4``) is said so."""
    import jsonschema

    problems = []
    validator = jsonschema.validators.validator_for(schema)(schema)  # the draft the schema names
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(map(str, error.absolute_path)) or "the config"
        value = error.instance
        if error.validator == "type" and isinstance(value, str) and _number(value) and math.isfinite(float(value)):
            wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
            number = int(float(value)) if "integer" in wanted and float(value).is_integer() else float(value)
            problems.append(f"{where}: {value!r} is text to YAML, not a number (YAML reads an exponent only "
                            f"after a decimal point): write {number!r}")
        elif error.validator == "additionalProperties":
            continue  # named by unknown_keys
        else:
            problems.append(f"{where}: {error.message}")
    return problems


def yaml_problem(path: str | Path) -> str | None:
    """What is wrong with a YAML config file, naming the file, the line and the column; None if it
    reads (Snakemake's own message names neither)."""
    import yaml

    try:
        yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(exc, "problem", None) or str(exc).split("\n")[0]
        return f"{path}{where}: not valid YAML ({what}). Indent with spaces only, the same number for keys of one level"
    return None


def config_files(workflow) -> tuple[list[str], dict[str, Any]]:
    """(the config files in the order Snakemake merged them, the ``--config`` values) of a running
    workflow: ``configfile:`` files first, then the command line's ``--configfile`` files, which
    Snakemake re-applies over them, then ``--config``."""
    cli = [str(f) for f in workflow.overwrite_configfiles or []]
    return [f for f in map(str, workflow.configfiles) if f not in cli] + cli, dict(workflow.config_settings.config)


def emptied_mappings(config: dict[str, Any], files: list[str | Path], overrides: dict[str, Any] | None = None) -> None:
    """Snakemake merges config files key by key, so ``models: {}`` in a later file empties nothing:
    the earlier file's models stay. Here an empty mapping in a file empties that key for the files
    before it (what a reader of ``models: {}`` expects); later files still add to it. ``files``: the
    config files in the order Snakemake merged them (read as Snakemake reads them, JSON or YAML);
    ``overrides``: the command line's ``--config`` values, which win over every file."""
    from snakemake.common.configfile import load_configfile
    from snakemake.utils import update_config

    loaded = [load_configfile(str(f)) or {} for f in files]

    def walk(data: Any, prefix: tuple[str, ...]):
        if isinstance(data, dict):
            for key, value in data.items():
                if value == {}:
                    yield (*prefix, key)
                else:
                    yield from walk(value, (*prefix, key))

    for i, data in enumerate(loaded):
        for path in walk(data, ()):
            value: dict[str, Any] = {}
            for later in loaded[i + 1:]:
                part = _at(later, ".".join(path))
                if isinstance(part, dict):
                    value = _merge(value, part)
            parent = _at(config, ".".join(path[:-1])) if len(path) > 1 else config
            if isinstance(parent, dict):
                parent[path[-1]] = value
    if overrides:
        update_config(config, dict(overrides))


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
