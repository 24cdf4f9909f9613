"""The conda envs pin the same versions as pyproject.toml, and provide what their rules import."""

from __future__ import annotations

import os
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


# --- every rule's conda env provides what its script imports ----------------------------------

import ast  # noqa: E402
import importlib.metadata as md  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

PACKAGE = REPO / "workflow" / "dcesynth"


def _rule_envs() -> dict[str, tuple[str, Path]]:
    """rule → (conda env file name, script path), from the rule files (``use rule`` inherits)."""
    out: dict[str, tuple[str, Path]] = {}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"^(?=\s*(?:rule|use rule) )", smk.read_text(), flags=re.M):
            name = re.match(r"\s*rule (\w+):", block)
            conda = re.search(r'conda:\s*"\.\./\.\./envs/(\w+\.yaml)"', block)
            script = re.search(r'script:\s*"\.\./scripts/(\w+\.py)"', block)
            if name and conda and script:
                out[name.group(1)] = (conda.group(1), REPO / "workflow" / "scripts" / script.group(1))
    return out


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth of the file (lazy imports too), absolute names."""
    tree = ast.parse(path.read_text())
    here = "dcesynth." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts) if PACKAGE in path.parents else ""
    pkg = here if path.name == "__init__.py" else here.rpartition(".")[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            names.add(mod)
            names |= {f"{mod}.{a.name}" for a in node.names}  # submodules imported by name
    return names


def _module_file(name: str) -> Path | None:
    parts = name.split(".")[1:]
    for candidate in (PACKAGE.joinpath(*parts).with_suffix(".py"), PACKAGE.joinpath(*parts, "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def third_party_imports(script: Path) -> set[str]:
    """Top-level third-party modules a script needs: its imports and those of every dcesynth module
    (and package ``__init__``) they reach."""
    seen, todo, out = set(), [script], set()
    while todo:
        for name in _imports(todo.pop()):
            top = name.split(".")[0]
            if top == "dcesynth":
                parts = name.split(".")
                for k in range(1, len(parts) + 1):  # importing a.b.c runs a, a.b and a.b.c
                    f = _module_file(".".join(parts[:k]))
                    if f and f not in seen:
                        seen.add(f)
                        todo.append(f)
            elif top not in sys.stdlib_module_names and top not in ("snakemake", "__future__"):
                out.add(top)
    return out


def _distribution_closure(names: set[str]) -> set[str]:
    """The distributions an env installs: those it names and, from this machine's installed
    metadata, everything they require (extras left out)."""
    norm = lambda s: re.sub(r"[-_.]+", "-", s).lower()  # noqa: E731
    out, todo = set(), [norm(n) for n in names]
    while todo:
        d = todo.pop()
        if d in out:
            continue
        out.add(d)
        try:
            reqs = md.requires(d) or []
        except md.PackageNotFoundError:
            continue
        todo += [norm(re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0]) for r in reqs if "extra ==" not in r]
    return out


def test_every_rule_env_provides_its_scripts_imports():
    """A rule run with --use-conda has only its env: every third-party module its script (and the
    package modules it reaches) imports must be installed by that env, not found on the host."""
    providers = {m: {re.sub(r"[-_.]+", "-", d).lower() for d in ds} for m, ds in md.packages_distributions().items()}
    envs = {}
    for env in (REPO / "envs").glob("*.yaml"):
        names = set()
        for item in yaml.safe_load(env.read_text())["dependencies"]:
            for entry in item["pip"] if isinstance(item, dict) else [item]:
                names.add(re.split(r"[ =<>]", entry, maxsplit=1)[0])
        envs[env.name] = _distribution_closure(names - {"python", "pip"})
    rules = _rule_envs()
    assert len(rules) >= 25
    missing = []
    for rule, (env, script) in sorted(rules.items()):
        for module in sorted(third_party_imports(script)):
            if not providers.get(module, set()) & envs[env]:
                missing.append(f"{rule} ({env}): {module}")
    assert not missing, "imports no env provides:\n" + "\n".join(missing)


def test_each_env_gets_the_package_from_its_post_deploy_script(tmp_path):
    """Snakemake runs ``envs/<env>.post-deploy.sh`` inside each env it creates. Here each runs in
    a bare virtual env (no site packages of this machine) with the variable the Snakefile sets:
    dcesynth is then importable from that env, from the checkout the variable names at run time
    (another checkout sharing the env gets its own), and no other package of this machine is."""
    import shutil
    import subprocess
    import venv

    envs = sorted((REPO / "envs").glob("*.yaml"))
    hooks = {p.name.removesuffix(".post-deploy.sh"): p for p in (REPO / "envs").glob("*.post-deploy.sh")}
    assert {e.stem for e in envs} == set(hooks)
    # one script, as copies: a module fetched from GitHub would receive a link as its target's name
    assert all(not p.is_symlink() and p.read_bytes() == (REPO / "envs" / "import-hook.sh").read_bytes()
               for p in hooks.values())  # fmt: skip
    assert "dcesynth.announce_location()" in (REPO / "workflow" / "Snakefile").read_text()
    other = tmp_path / "other_checkout" / "dcesynth"
    shutil.copytree(PACKAGE, other, ignore=shutil.ignore_patterns("__pycache__"))
    for env in envs:
        prefix = tmp_path / env.stem
        venv.create(prefix, with_pip=False, symlinks=True)
        base = {"PATH": f"{prefix / 'bin'}:{os.environ['PATH']}", "HOME": str(tmp_path), "VIRTUAL_ENV": str(prefix)}
        script = REPO / "envs" / f"{env.stem}.post-deploy.sh"
        refused = subprocess.run(["bash", str(script)], env=base, capture_output=True, text=True)
        assert refused.returncode != 0 and "is set by the Snakefile" in refused.stderr
        done = subprocess.run(["bash", str(script)], env={**base, "DCESYNTH_PACKAGE": str(PACKAGE)},
                              capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 0, done.stderr

        def where(package: Path, code: str = "import dcesynth.errors as e; print(e.__file__)") -> subprocess.CompletedProcess:
            return subprocess.run([str(prefix / "bin" / "python"), "-c", code], env={**base, "DCESYNTH_PACKAGE": str(package)},
                                  capture_output=True, text=True, cwd=tmp_path)  # fmt: skip

        for package in (PACKAGE, other):  # submodules too, from the checkout named at run time
            out = where(package)
            assert out.returncode == 0 and Path(out.stdout.strip()).resolve() == (package / "errors.py").resolve(), out.stderr
        assert where(PACKAGE, "import numpy").returncode != 0  # the host's other packages stay out


# Jobs that compute nothing with torch: starting torch (2-3 s of CPU per job) is most of what
# these small jobs cost, and the demo runs ~200 of them.
TORCH_FREE_SCRIPTS = (
    "crop_breast", "export_dicom_seg", "extract_slices", "import_external", "ingest", "ingest_mask", "list_slice_pairs",
    "make_phantom", "make_viewer", "mama_synth_classifiers", "mama_synth_export", "n4_bias_correction", "nnunet_dataset",
    "nnunet_plan", "nnunet_predict", "nnunet_test_images", "nnunet_train", "plot_cohort", "plot_synthesis",
    "segmentation_metrics", "select_best_epoch", "split_cases", "tabulate_epochs", "training_log",
    "tumour_region_metrics",
)  # fmt: skip


def test_jobs_that_need_no_torch_do_not_import_it():
    """Each script's top-level imports, run in a fresh interpreter, leave torch unloaded (the nnU-Net
    rules' scripts too: nnU-Net and torch run in the child process they start)."""
    import subprocess

    from concurrent.futures import ThreadPoolExecutor

    def probe(name: str) -> subprocess.CompletedProcess:  # a fresh interpreter per script
        tree = ast.parse((REPO / "workflow" / "scripts" / f"{name}.py").read_text())
        imports = "\n".join(ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))
        code = f"{imports}\nimport sys\nprint(sorted(m for m in ('torch', 'torchvision', 'nnunetv2') if m in sys.modules))"
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)

    loaded = {}
    with ThreadPoolExecutor(4) as pool:  # four interpreters at a time
        for name, run in zip(TORCH_FREE_SCRIPTS, pool.map(probe, TORCH_FREE_SCRIPTS)):
            assert run.returncode == 0, f"{name}: {run.stderr[-500:]}"
            loaded[name] = run.stdout.strip()
    assert {k: v for k, v in loaded.items() if v != "[]"} == {}
