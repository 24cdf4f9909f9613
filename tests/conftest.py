"""Shared fixtures: the repository, the shared data folder, tiny configs and a workflow runner."""

from __future__ import annotations

import copy
import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from pathlib import Path

# Before any OpenMP runtime starts, here and in every process the tests start (they inherit it):
# threads that wait sleep instead of spinning. Where two test processes' jobs share the cores, a
# spinning torch thread pool holds a core its peer needs (two 2-thread training steps at once ran 5x
# slower than one alone, against 2x with this); a process alone runs as fast either way.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# The tiny phantom cohort of the integration tests: 6 small cases, 2 post-contrast phases, a small
# seeded pix2pixHD (ngf 8, 2 downsamplings, 1 residual block, random VGG19) trained 4 epochs; the
# tiny run adds a small NCA (TINY_MODELS).
TINY = {
    "data": {"post_phases": 2},
    "phantom": {
        "n_cases": 6,
        "rows": [24, 28],
        "cols": [30, 36],
        "slices": [8, 10],
        "pixel_spacing_mm": [8.0, 9.0],
        "slice_thickness_mm": [13.0, 15.0],
        "post_phases": 2,
        "mask_fraction": 0.67,
        "multifocal_fraction": 0.0,
    },
    "n4": {"iterations": [10, 10]},
    "slices": {"size": 32},
    "splits": {"n_folds": 2, "test_fraction": 0.6, "min_gan_train_cases": 1},
    "report": {"example_cases": 2},
    "device": "cpu",
    "gan": {
        "run": "tiny",
        "generator": {"ngf": 8, "n_downsample_global": 2, "n_blocks_global": 1},
        "discriminator": {"ndf": 8, "n_layers_D": 2, "num_D": 2},
        "niter": 2,
        "niter_decay": 2,
        "batch_size": 2,
        "eval_every": 2,
    },
    # FID samples of 4: the two Inception networks at 299 px are most of an evaluation job's time
    "metrics": {"n_pixel_pairs": 40, "n_fid_pairs": 4, "n_fid_pairs_test": 4},
    # nnU-Net's real planning, training (2 epochs of 10 iterations) and fold ensemble, on two of
    # the paper's training sets: the baseline and its synthetic augmentation, three test rows.
    "segmentation": {"trainer": "nnUNetTrainer_dcesynth_tiny", "ranking_segmenter": "real_pre"},
    "resources": {"train_epoch": {"threads": 1}, "preview_model": {"threads": 1}},
}


# The tiny run's further model family beside pix2pixHD, through the same rules: a small NCA, 2 epochs,
# both evaluated (the other families share its code path; unit-tested).
TINY_MODELS = {"nca": {"family": "nca", "options": {"channels": 8, "hidden": 16, "steps": 4},
                       "niter": 1, "niter_decay": 1, "eval_every": 1}}  # fmt: skip


# The two tiers: `pytest -m "not integration"` is the unit tier. A test that starts one of these
# programs (Snakemake, nnU-Net's commands, SLURM, a browser) must carry the integration marker; the
# check below fails an unmarked test at the moment it starts one.
INTEGRATION_PROGRAMS = ("snakemake", "sbatch", "srun", "squeue", "chromium", "chromium-browser", "slurmctld", "slurmd")


def _integration_program(args) -> str | None:
    words = [str(w) for w in ([args] if isinstance(args, (str, os.PathLike)) else args)]
    if len(words) == 1 and " " in words[0]:  # a shell command line
        words = words[0].split()
    if words and Path(words[0]).name == "which":  # looks a program up (Snakemake's SLURM plugin does)
        return None
    for w in words:
        name = Path(w).name
        if name in INTEGRATION_PROGRAMS or name.startswith("nnUNetv2_"):
            return name
        if "snakemake.cli" in w or "snakemake.api" in w:  # python -c "... from snakemake.cli import main ..."
            return "snakemake"
    return None


@pytest.fixture(autouse=True)
def integration_marker_enforced(request, monkeypatch):
    if request.node.get_closest_marker("integration"):
        yield
        return
    popen_init = subprocess.Popen.__init__

    def guarded(self, args, *a, **kw):
        program = _integration_program(args)
        if program:
            pytest.fail(f"{request.node.nodeid} starts {program}: mark it @pytest.mark.integration (the unit tier "
                        "runs none)", pytrace=False)  # fmt: skip
        popen_init(self, args, *a, **kw)

    monkeypatch.setattr(subprocess.Popen, "__init__", guarded)
    yield


# One test process per core, at most four (pytest-xdist; `-n auto --dist loadgroup` in pyproject's
# addopts, `-n 0` runs one): much of the suite's time is one core's work (Python start-up,
# Snakemake's parse, 1-thread jobs) or waiting (SLURM's status checks, killed jobs). The session's
# tiny run is built once, in the background from the start, in a folder the processes share
# (``tiny_run``); the tests that use it come last, and the long ones (``long`` marker) first within
# each part, so the processes end together. A module's tests that share a module-scoped fixture run
# in one process, so each such fixture is built once (test_slurm's single SLURM among them).
def pytest_xdist_auto_num_workers(config) -> int:
    return max(1, min(len(os.sched_getaffinity(0)), 4))  # the cores this process may use


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items):
    group, tiny_groups = {}, set()
    for item in items:
        defs = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
        if not item.get_closest_marker("xdist_group") and any(d[-1].scope == "module" for d in defs.values() if d):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
        marker = item.get_closest_marker("xdist_group")
        group[item] = marker.args[0] if marker else None
        if group[item] and "tiny_run" in item.fixturenames:
            tiny_groups.add(group[item])
    if os.environ.get("PYTEST_XDIST_WORKER"):  # one process runs the files in their order
        # a group goes where its first test is: one that waits for the tiny run goes with its users.
        # A long group goes before long single tests: it is one unit that one process runs (SLURM's
        # module, mostly waiting on its scheduler, then waits while the other process works instead
        # of last and alone)
        def order(item):
            long = item.get_closest_marker("long") is not None
            return ("tiny_run" in item.fixturenames or group[item] in tiny_groups, not long,
                    long and group[item] is None, item.get_closest_marker("integration") is None)

        items.sort(key=order)


def _shared_tiny_run(config) -> Path:
    """Where the tiny run of a session in several test processes is built: beside their own folders
    (in the session's folder, which is the parent of each test process's own)."""
    base = config._tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "tiny_run"


def _alive(pid: int) -> bool:
    """Whether a process runs (an exited one its parent has not reaped yet is a zombie: not alive)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def pytest_collection_finish(session):
    """The first test process starts the tiny run in the background once the tests are known, if
    any of them uses it (none does in the unit tier). Its process group id is in ``tiny_run.pid``."""
    if os.environ.get("PYTEST_XDIST_WORKER") != "gw0" or not any("tiny_run" in i.fixturenames for i in session.items):
        return
    base = _shared_tiny_run(session.config)
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import conftest; "
            f"conftest.build_tiny_run_reporting({str(base)!r})")  # fmt: skip
    with open(base.with_suffix(".log"), "w") as log:  # a group of its own: it can be stopped whole
        build = subprocess.Popen([sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)  # fmt: skip
    base.with_suffix(".pid").write_text(str(build.pid))


def pytest_sessionfinish(session):
    """The controlling process, once every test process has ended, stops a build still running
    (the session stopped early: -x, Ctrl-C, or no test that needs it was left)."""
    pid = _shared_tiny_run(session.config).with_suffix(".pid")
    if not os.environ.get("PYTEST_XDIST_WORKER") and pid.exists() and _alive(int(pid.read_text())):
        os.killpg(int(pid.read_text()), signal.SIGTERM)


def deep_update(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in extra.items():
        out[k] = deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def default_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


TINY_SCENARIOS = {
    "real_pre": {"id": 501, "test_on": ["real_pre", "real_post"]},
    "real_pre+syn_post": {"id": 502, "test_on": ["real_post"]},
}


def tiny_config(**overrides) -> dict:
    cfg = deep_update(default_config(), TINY)
    cfg["segmentation"]["scenarios"] = TINY_SCENARIOS  # replaced, not merged with the paper's seven
    cfg["models"] = None  # the demo's further models are not the tiny configs' (the tiny run adds TINY_MODELS)
    return deep_update(cfg, overrides)


def make_workdir(path: Path, config: dict) -> Path:
    """A working directory as a user would have it: config/config.yaml (+ the shipped configs)."""
    (path / "config").mkdir(parents=True, exist_ok=True)
    for f in (REPO / "config").glob("*.yaml"):
        shutil.copy(f, path / "config" / f.name)
    (path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def run_scheduler_patch(root: Path, patch: str | None, rules: str, *args: str) -> str:
    """Snakemake on a throwaway Snakefile of ``rules`` in ``root``, with ``dcesynth.<patch>()`` (a
    patch of its scheduler, e.g. ``"core_reservation.reserve"``) applied, or Snakemake's own
    scheduling (``None``); the greedy selection, as the workflow profile's. Its log."""
    root.mkdir()
    head = ""
    if patch:
        module, call = patch.split(".")
        head = f"from dcesynth import {module}\nassert {module}.{call}()\n"
    (root / "Snakefile").write_text(head + textwrap.dedent(rules))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--scheduler", "greedy", *args],
                          cwd=root, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


# --- the workflow deployed as a module, as the Snakemake workflow catalog deploys it (docs/module.md) ---


def deploy(dest, source=REPO):
    """`snakedeploy deploy-workflow` into ``dest``: config/, profiles/ and a workflow/Snakefile that
    declares the workflow as a module and uses all its rules. For a local source snakedeploy writes
    the module's path relative to the source's root ("workflow/Snakefile"), which Snakemake reads
    relative to the deploying Snakefile: the one fix made here is that path, made absolute (a GitHub
    source gets `github("owner/repo", path="workflow/Snakefile", tag=...)`, which needs none)."""
    cmd = [sys.executable, "-m", "snakedeploy.client", "deploy-workflow", str(source), str(dest), "--branch", "main",
           "--name", "dcesynth", "--force"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    snakefile = dest / "workflow" / "Snakefile"
    text = snakefile.read_text()
    assert "module dcesynth:" in text and "use rule * from dcesynth" in text, text
    text, n = re.subn(r'snakefile:\s*\n\s*"workflow/Snakefile"', f'snakefile:\n        "{REPO}/workflow/Snakefile"', text)
    assert n == 1, text
    snakefile.write_text(text)
    return dest


def snakemake_deployed(wd, *args, timeout=900):
    """Snakemake as a user of the deployment runs it: in its folder, finding workflow/Snakefile and
    the deployed profiles/default itself."""
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=wd, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def run_deployed(wd, *args, timeout=1800):
    """``snakemake`` in a deployment, failing with its output's tail unless it succeeds."""
    proc = snakemake_deployed(wd, *args, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} in the deployment failed ({proc.returncode}):\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")  # fmt: skip
    return proc



@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared (the project's shared data) is not beside the checkout")
    return SHARED


@pytest.fixture(scope="session")
def tiny_run(request, tmp_path_factory) -> Path:
    """The whole workflow run once on the tiny phantom cohort (with TINY_MODELS), with its report.
    Tests only read it or run dry runs in it (their config files elsewhere); the others work on a
    ``copy_of_run``.

    ``DCESYNTH_TINY_RUN=DIR`` (for work on the tests, never in CI) starts from a copy of a tiny run
    an earlier session finished (``pytest-of-$USER/pytest-N/tiny_run``, or ``tiny_run0`` under
    ``-n 0``): the run then finds little or nothing to do, unless the code changed what it computes."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return build_tiny_run(tmp_path_factory.getbasetemp() / "tiny_run0")
    base = _shared_tiny_run(request.config)
    status, pid, log = base.with_suffix(".status"), base.with_suffix(".pid"), base.with_suffix(".log")
    deadline = time.monotonic() + 3600
    while not status.exists():  # written by the build the first test process started
        if time.monotonic() > deadline:
            pytest.fail(f"the tiny run did not finish within an hour: {log}", pytrace=False)
        if pid.exists() and not _alive(int(pid.read_text())) and not status.exists():
            pytest.fail(f"the tiny run's build stopped before it finished (killed?): {log}", pytrace=False)
        time.sleep(1)
    if status.read_text() != "ok":
        pytest.fail(f"the tiny run failed ({log}):\n{status.read_text()[-8000:]}", pytrace=False)
    return base


def build_tiny_run(base: Path) -> Path:
    if os.environ.get("DCESYNTH_TINY_RUN"):
        copy_of_run(Path(os.environ["DCESYNTH_TINY_RUN"]), base)
    # deployed as the Snakemake workflow catalog deploys (test_module.deploy): the whole tiny config
    # runs through the workflow as a module of the folder's own Snakefile; copies of the run are then
    # rerun through the repository's Snakefile, which finds them up to date (test_module)
    base.mkdir(parents=True, exist_ok=True)
    deploy(base)
    wd = make_workdir(base, tiny_config(models=TINY_MODELS))
    run_deployed(wd, "--cores", "2")
    run_deployed(wd, "--report", "report.html")
    return wd


def build_tiny_run_reporting(base: str) -> None:
    """``build_tiny_run`` in the background process: ``tiny_run.status`` says "ok" or why not."""
    status = Path(base).with_suffix(".status")
    try:
        build_tiny_run(Path(base))
        text = "ok"
    except BaseException:  # noqa: BLE001 - whatever stopped it is the tests' failure
        text = traceback.format_exc()
    tmp = status.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(status)


def copy_of_run(run: Path, dest: Path) -> Path:
    """A copy of a finished run (``tiny_run``) that a test may change: modification times are kept,
    so the copy is up to date and a test reruns only what it deletes, forces or reconfigures."""
    shutil.copytree(run, dest, symlinks=True)
    return dest


def parse_refusal(config: dict) -> str:
    """What a dry run on ``config`` stops with at parse time (``common.smk``'s "Configuration
    error: ..."), computed in-process with the same code (``dcesynth.plan.load``) in milliseconds.
    Fails if the config is accepted. A few real dry runs (test_configs, test_own_cohort) prove the
    workflow prints these."""
    from dcesynth.errors import ConfigError
    from dcesynth.plan import load

    try:
        plan = load(copy.deepcopy(config), REPO)
    except ConfigError as exc:
        return f"Configuration error: {exc}"
    if plan.refusals and not plan.config["splits"]["allow_empty"]:
        return "Configuration error: the splits cannot run:\n  " + "\n  ".join(plan.refusals)
    raise AssertionError("the config was accepted")


# The torchmetrics of the authors' evaluation (late 2023), installed only for the tests into a
# folder of its own and imported by reference scripts run in a subprocess (our env keeps its own).
AUTHORS_TORCHMETRICS = "1.2.1"


@pytest.fixture()
def nnunet_searches(monkeypatch) -> list[str]:
    """The class names nnU-Net's class search (``recursive_find_python_class``, which imports every
    module of a package) is asked for while the test runs; the search itself still runs."""
    from nnunetv2.utilities import find_objects

    asked, search = [], find_objects.recursive_find_python_class
    monkeypatch.setattr(find_objects, "recursive_find_python_class", lambda *a, **k: asked.append(a[1]) or search(*a, **k))
    return asked


@pytest.fixture(scope="session")
def authors_torchmetrics(request) -> Path:
    """A folder holding torchmetrics 1.2.1 alone (kept in pytest's cache between sessions)."""
    return side_package(request, f"torchmetrics=={AUTHORS_TORCHMETRICS}")


def side_package(request, spec: str) -> Path:
    """A folder holding ``spec`` (``pkg==version``) alone, installed with pip for the tests and kept in
    pytest's cache between sessions: a reference library imported only by subprocesses."""
    cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider: a fresh folder then
    name = spec.replace("==", "-")
    folder = cache.mkdir(name) if cache is not None else request.getfixturevalue("tmp_path_factory").mktemp(name)
    with open(folder.parent / f"{name}.lock", "w") as lock:  # the other test process may install it at once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".installed").exists():
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(folder), spec],
                           check=True)  # fmt: skip
            (folder / ".installed").touch()
    return folder


def run_authors_reference(folder: Path, pairs: list[tuple[np.ndarray, np.ndarray]], out_dir: Path,
                          backbone: Path | None = None) -> dict[str, np.ndarray]:  # fmt: skip
    """tests/data/authors_metrics_reference.py on (synthetic, real) uint8 pairs under the torchmetrics
    in ``folder``: the authors' per-pair values."""
    arrays = {f"{k}_{i}": v for i, (syn, real) in enumerate(pairs) for k, v in (("syn", syn), ("real", real))}
    np.savez(out_dir / "pairs.npz", **arrays)
    script = Path(__file__).parent / "data" / "authors_metrics_reference.py"
    cmd = [sys.executable, str(script), str(out_dir / "pairs.npz"), str(out_dir / "reference.npz")]
    env = {**os.environ, "PYTHONPATH": str(folder)}
    subprocess.run(cmd + ([str(backbone)] if backbone else []), check=True, env=env)
    ref = dict(np.load(out_dir / "reference.npz"))
    assert str(ref.pop("version")) == AUTHORS_TORCHMETRICS
    return ref


def write_mama_mia(root: Path, phases: list[int], seed: int = 7) -> dict[str, dict]:
    """A small cohort in the published MAMA-MIA layout, shaped unlike the phantom's DICOM tree.

    ``images/{CASE}/{case}_{k:04d}.nii.gz`` (lower-case files in upper-case folders; k = 0 the
    pre-contrast image) and ``segmentations/expert/{case}.nii.gz``. Case i has ``phases[i]``
    post-contrast phases; every case is annotated. The cases differ in how the volume is stored:
    as the phantom's LPS arrays (int16), transposed so that the array's first axis runs left-right
    (a sagittal storage, float32), with rows and columns flipped (uint16), and as float64; the
    second case's mask is 0/255. The anatomy is the phantom's (seeded); the returned mapping gives
    per case its folder name, phases and the pre-contrast file, for checks on the source grid.
    """
    import SimpleITK as sitk

    from dcesynth import phantom

    cfg = {**default_config()["phantom"], **TINY["phantom"], "n_cases": len(phases), "seed": seed,
           "mask_fraction": 1.0, "post_phases": max(phases), "case_prefix": "MM_"}  # fmt: skip
    out = {}
    for i, (spec, n_post) in enumerate(zip(phantom.plan_cohort(cfg), phases)):
        vols = phantom.draw_case(spec)
        case = f"SITE{i % 2 + 1}_{i + 1:03d}"
        folder = root / "images" / case
        folder.mkdir(parents=True, exist_ok=True)
        spacing = (spec.pixel_spacing, spec.pixel_spacing, spec.slice_thickness)  # x, y, z (LPS)
        kind = i % 4

        def image(arr: np.ndarray, dtype) -> sitk.Image:
            arr = arr.astype(dtype)
            origin = np.array([-40.0 + 3 * i, -25.0, 10.0 * i])
            if kind == 1:  # stored x-z-y: array axes (L, S, P) ← index axes (P, S, L)
                img = sitk.GetImageFromArray(np.ascontiguousarray(np.transpose(arr, (2, 0, 1))))
                img.SetSpacing((spacing[1], spacing[2], spacing[0]))
                img.SetDirection((0, 0, 1, 1, 0, 0, 0, 1, 0))
            elif kind == 2:  # rows and columns reversed: the index runs right and anterior
                img = sitk.GetImageFromArray(np.ascontiguousarray(arr[:, ::-1, ::-1]))
                img.SetSpacing(spacing)
                img.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))
                origin = origin + [(arr.shape[2] - 1) * spacing[0], (arr.shape[1] - 1) * spacing[1], 0]
            else:
                img = sitk.GetImageFromArray(arr)
                img.SetSpacing(spacing)
            img.SetOrigin(tuple(origin))
            return img

        dtype = {0: np.int16, 1: np.float32, 2: np.uint16, 3: np.float64}[kind]
        files = {}
        for k, seq in enumerate(["pre"] + [f"post{j}" for j in range(1, n_post + 1)]):
            files[seq] = folder / f"{case.lower()}_{k:04d}.nii.gz"
            sitk.WriteImage(image(vols[seq], dtype), str(files[seq]))
        mask = vols["mask"].astype(np.uint8) * (255 if i == 1 else 1)
        (root / "segmentations" / "expert").mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(image(mask, np.uint8), str(root / "segmentations" / "expert" / f"{case.lower()}.nii.gz"))
        out[case] = {"phases": n_post, "pre": files["pre"]}
    return out


def tool_or_skip(name: str, what: str) -> str:
    """The path of a system tool the tests need; a skip where it is missing, a failure under CI."""
    tool = next((t for t in (shutil.which(n) for n in name.split("|")) if t), None)
    if tool is None:
        message = f"{what} is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return tool


def dciodvfy_errors(path) -> list[str]:
    """The error lines of dciodvfy (Debian's dicom3tools) for one DICOM file."""
    tool = tool_or_skip("dciodvfy", "dciodvfy (Debian's dicom3tools)")
    proc = subprocess.run([tool, str(path)], capture_output=True, text=True)
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("Error")]


def browse(page: Path, fragment: str, out_png: Path | None = None, size=(1400, 700)) -> dict:
    """Open ``page#fragment`` in headless Chromium: its DOM once scripts have run, a screenshot
    (``out_png``), and the console errors Chromium logged."""
    chromium = tool_or_skip("chromium|chromium-browser|google-chrome", "chromium (headless browser)")
    url = f"{page.resolve().as_uri()}#{fragment}"
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:  # its own: the other test process may browse too
        base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=20000",
                f"--window-size={size[0]},{size[1]}", "--enable-logging=stderr", "--v=0", f"--user-data-dir={profile}"]  # fmt: skip
        dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=120)
        shot = None
        if out_png is not None:
            shot = subprocess.run([*base, f"--screenshot={out_png}", url], capture_output=True, text=True, timeout=120)
    logs = dom.stderr + (shot.stderr if shot else "")
    console = [line for line in logs.splitlines() if "CONSOLE" in line and re.search("error|uncaught", line, re.I)]
    return {"dom": dom.stdout, "console_errors": console}
