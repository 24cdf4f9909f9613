"""The conda envs pin the same versions as pyproject.toml."""

from __future__ import annotations

import re
import tomllib

import yaml

from conftest import REPO


def test_env_pins_match_pyproject():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {re.split("==", d)[0].lower(): d.split("==")[1] for d in deps}
    assert all("==" in d for d in deps), "every dependency is pinned exactly"
    checked = 0
    for env in sorted((REPO / "envs").glob("*.yaml")):
        spec = yaml.safe_load(env.read_text())
        assert spec["channels"] == ["conda-forge", "nodefaults"], env.name
        for item in spec["dependencies"]:
            entries = item["pip"] if isinstance(item, dict) else [item]
            for entry in entries:
                m = re.match(r"^([A-Za-z0-9_.-]+)\s*==?\s*([^\s]+)$", entry)
                if not m or m.group(1).lower() == "python":
                    continue
                name, version = m.group(1).lower(), m.group(2)
                assert name in pins, f"{env.name}: {name} is not a pyproject dependency"
                assert pins[name] == version, f"{env.name}: {name} {version} != pyproject {pins[name]}"
                checked += 1
    assert checked >= 10
