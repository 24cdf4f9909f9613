"""Unknown config keys, named by their path.

The schema refuses unknown keys, but its message is a dump of the schema; a typo such as
``metrics.fid_imagnet`` deserves one line with the key's path and the nearest known key
(``common.smk`` asks for it when the schema validation fails).
"""

from __future__ import annotations

import difflib
from typing import Any


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
        elif closed:
            near = difflib.get_close_matches(str(key), list(props), n=1, cutoff=0.6)
            hint = f" (did you mean {path}{near[0]}?)" if near else f" (known here: {', '.join(props)})"
            problems.append(f"unknown key {where}{hint}")
    return problems
