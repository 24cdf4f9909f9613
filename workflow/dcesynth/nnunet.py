"""Driving nnU-Net v2 from rules: its folders, threads and device per job, and its own CLI and API.

Each rule points ``nnUNet_raw``, ``nnUNet_preprocessed`` and ``nnUNet_results`` at one scenario's
folder under ``results/segmentation/``, so scenarios never share nnU-Net state and can run in
parallel. Thread counts follow the rule's ``threads`` (nnU-Net's own CLI would take every core).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import logging
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

from .errors import InputError

TRAINERS = Path(__file__).resolve().parent / "nnunet_trainers"

log = logging.getLogger("dcesynth")


def environment(root: str | Path, threads: int, training: bool = True) -> dict[str, str]:
    """Set (and return) nnU-Net's environment for one job rooted at ``root``.

    Training and prediction keep ``threads - 1`` data-augmentation workers beside the main
    process (none on one thread); planning gets ``threads`` (its VRAM estimate sets torch's thread
    count from that number, which must be positive).
    """
    root = Path(root).resolve()
    threads = max(1, int(threads))
    env = {
        "nnUNet_raw": str(root / "nnUNet_raw"),
        "nnUNet_preprocessed": str(root / "nnUNet_preprocessed"),
        "nnUNet_results": str(root / "nnUNet_results"),
        "nnUNet_extTrainer": str(TRAINERS),
        "nnUNet_n_proc_DA": str(threads - 1 if training else threads),
        "nnUNet_def_n_proc": str(threads),
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "nnUNet_compile": "false",
    }
    os.environ.update(env)
    return env


def _run(cmd: list[str], what: str, log_path: str | Path | None) -> None:
    """Run ``cmd`` with its output appended to the rule's log; a failure names ``what``."""
    log.info("running %s", " ".join(cmd))
    sink = open(log_path, "a") if log_path else None  # noqa: SIM115
    try:
        proc = subprocess.run(cmd, stdout=sink, stderr=subprocess.STDOUT, env=os.environ.copy(), check=False)
    finally:
        if sink:
            sink.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed with exit code {proc.returncode}; its output is in the log above")


class _Done:
    """A task that already ran, as ``multiprocessing``'s ``AsyncResult``."""

    def __init__(self, value):
        self.value = value

    def ready(self) -> bool:
        return True

    def get(self, timeout=None):
        return self.value


class _InProcessPool:
    """A ``multiprocessing`` pool whose tasks run in the calling process, one at a time, in the
    order they are submitted (with the ``_pool`` of live workers nnU-Net's progress loops check)."""

    def __init__(self, processes=None, *args, **kwargs):
        self._pool = [types.SimpleNamespace(is_alive=lambda: True)]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def starmap_async(self, fn, iterable):
        return _Done([fn(*args) for args in iterable])

    def starmap(self, fn, iterable):
        return [fn(*args) for args in iterable]


_IN_PROCESS = types.SimpleNamespace(get_context=lambda method=None: types.SimpleNamespace(Pool=_InProcessPool))


@contextlib.contextmanager
def _replaced(modules: tuple[str, ...], name: str, value):
    """``name`` in each of the named modules set to ``value`` while the context lasts."""
    loaded = [importlib.import_module(m) for m in modules]
    saved = [getattr(m, name) for m in loaded]
    for m in loaded:
        setattr(m, name, value)
    try:
        yield
    finally:
        for m, original in zip(loaded, saved):
            setattr(m, name, original)


def pools_in_process(*modules: str):
    """nnU-Net's worker pools in the named modules (``multiprocessing.get_context("spawn").Pool``)
    run in this process while the context lasts.

    Each ``spawn`` worker imports torch and nnU-Net again, 3-5 s of CPU per worker: for the handful
    of small cases of a job on one thread (the demo, the tests) most of planning's and a short
    fold's validation. The same nnU-Net functions run, one case at a time."""
    return _replaced(modules, "multiprocessing", _IN_PROCESS)


def our_trainers_found_first(*modules: str):
    """nnU-Net finds a trainer by name by importing every module of its own trainer package (about
    1500 modules: about 2 s of every training and prediction job) before it looks in
    ``nnUNet_extTrainer``, where ours are. While the context lasts, the named modules' lookup returns
    a trainer of ours (:data:`TRAINERS`) at once; any other name (nnU-Net's own, a published
    model's) is looked up as nnU-Net does."""
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    from nnunetv2.utilities import find_objects

    ours = importlib.import_module("dcesynth.nnunet_trainers.nnUNetTrainer_dcesynth")

    def find(trainer_name: str):
        cls = getattr(ours, trainer_name, None)
        if isinstance(cls, type) and issubclass(cls, nnUNetTrainer) and cls.__module__ == ours.__name__:
            return cls
        return find_objects.recursive_find_trainer_class_by_name(trainer_name)

    return _replaced(modules, "recursive_find_trainer_class_by_name", find)


# The modules that look a trainer up by name: training and prediction.
TRAINER_LOOKUPS = ("nnunetv2.run.run_training", "nnunetv2.inference.predict_from_raw_data")


# The modules whose pools planning and preprocessing start (integrity check, fingerprints, preprocessing).
PLANNING_POOLS = (
    "nnunetv2.experiment_planning.verify_dataset_integrity",
    "nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor",
    "nnunetv2.preprocessing.preprocessors.default_preprocessor",
)
# The modules whose pools a trainer's final validation starts (segmentation export, Dice per case).
VALIDATION_POOLS = ("nnunetv2.training.nnUNetTrainer.nnUNetTrainer", "nnunetv2.evaluation.evaluate_predictions")


def plan_and_preprocess(dataset_id: int, configuration: str, threads: int, log_path: str | Path | None) -> None:
    """``nnUNetv2_plan_and_preprocess`` with its dataset integrity check (its own entry point, run in a
    child process; on one thread its worker pools run in that process, :func:`pools_in_process`)."""
    args = ["-d", str(dataset_id), "-c", configuration, "--verify_dataset_integrity", "-np", str(threads),
            "-npfp", str(threads), "--no_pbar"]  # fmt: skip
    _run_in_child("plan", dict(args=args, threads=int(threads)), log_path)


STAMP = ".dcesynth_inputs"


def prepare_fold(fold_dir: str | Path, preprocessed: str | Path, trainer: str, configuration: str) -> bool:
    """Make a fold folder ready; True when an interrupted run of the same inputs can be resumed.

    The fold folder is stamped with a hash of what it was trained from (plans, dataset.json, folds,
    trainer). A checkpoint left by a killed job resumes only under the same stamp; anything else in
    the folder (another dataset, other plans) is cleared so that nothing stale is continued.
    """
    fold_dir = Path(fold_dir)
    pre = Path(preprocessed)
    h = hashlib.sha256(f"{trainer}:{configuration}".encode())
    for name in ("nnUNetPlans.json", "dataset.json", "splits_final.json"):
        f = pre / name
        h.update(f.read_bytes() if f.exists() else b"")
    stamp = h.hexdigest()
    stamp_file = fold_dir / STAMP
    latest = fold_dir / "checkpoint_latest.pth"
    if stamp_file.exists() and stamp_file.read_text().strip() == stamp and _complete_checkpoint(latest):
        return True
    if fold_dir.exists():
        shutil.rmtree(fold_dir)
    fold_dir.mkdir(parents=True)
    stamp_file.write_text(stamp + "\n")
    return False


def _run_in_child(command: str, args: dict, log_path: str | Path | None) -> None:
    """Run ``python -m dcesynth.nnunet <command>`` with its output in the log.

    nnU-Net starts worker pools with the ``spawn`` method, which re-imports the parent's main
    module: a Snakemake script (no ``__main__`` guard, no ``snakemake`` object in the child) cannot
    be that module, so nnU-Net's API runs in a child process whose main module is this one.
    """
    _run([sys.executable, "-m", "dcesynth.nnunet", command, json.dumps(args)], f"nnU-Net {command}", log_path)


def _complete_checkpoint(path: Path) -> bool:
    """A torch checkpoint written to the end (a zip archive whose members all read back)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return z.testzip() is None
    except (OSError, zipfile.BadZipFile):
        return False


def train(dataset_id: int, configuration: str, fold: int, trainer: str, plans: str, threads: int, device: str,
          resume: bool, log_path: str | Path | None = None) -> None:
    """One fold with nnU-Net's ``run_training`` (the API behind ``nnUNetv2_train``)."""
    _run_in_child("train", dict(dataset_id=dataset_id, configuration=configuration, fold=fold, trainer=trainer,
                                plans=plans, threads=threads, device=device, resume=resume), log_path)


def predict(model_dir: str | Path, folds: list[int], images: str | Path, out_dir: str | Path, threads: int,
            device: str, tta: bool, step_size: float, log_path: str | Path | None = None) -> None:
    """Ensemble of the folds on a folder of images with nnU-Net's ``nnUNetPredictor`` (no post-processing).

    Every fold's ``checkpoint_final.pth`` is checked first: a truncated or corrupt one is refused
    with one line naming it (nnU-Net would fail deep inside torch.load, or not at all for a file
    cut inside a tensor).
    """
    for f in folds:
        ckpt = Path(model_dir) / f"fold_{f}" / "checkpoint_final.pth"
        if not _complete_checkpoint(ckpt):
            raise InputError(None, ckpt, "corrupt or truncated nnU-Net checkpoint",
                             "delete it and rerun: Snakemake then trains this fold again")  # fmt: skip
    if any(Path(images).glob("*_0000.nii.gz")):
        _run_in_child("predict", dict(model_dir=str(model_dir), folds=list(folds), images=str(images),
                                      out_dir=str(out_dir), threads=threads, device=device, tta=tta,
                                      step_size=step_size), log_path)
    # the cases the folder has no image of (an external model's missing volumes): an empty
    # prediction each, on its label crop's grid, which the model ranking imputes
    from .segmentation import NO_IMAGE

    markers = sorted(Path(images, NO_IMAGE).glob("*.json"))
    if markers:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    for marker in markers:
        write_empty_prediction(json.loads(marker.read_text())["label"], Path(out_dir) / f"{marker.stem}.nii.gz")
        log.warning("no image of %s in %s: an empty prediction written (the model ranking imputes it)", marker.stem,
                    Path(images).name)  # fmt: skip


def write_empty_prediction(label_file: str | Path, out_file: str | Path) -> None:
    """A prediction with no foreground on the grid of ``label_file`` (uint8, as nnU-Net writes
    labels): what a case without an image gets."""
    import SimpleITK as sitk

    label = sitk.ReadImage(str(label_file))
    empty = sitk.Image(label.GetSize(), sitk.sitkUInt8)
    empty.CopyInformation(label)
    sitk.WriteImage(empty, str(out_file), True)


def _train(dataset_id, configuration, fold, trainer, plans, threads, device, resume) -> None:
    import torch
    from nnunetv2.run.run_training import run_training

    from .devices import resolve_device

    dev = resolve_device(device)
    torch.set_num_threads(int(threads) if dev.type == "cpu" else 1)
    with our_trainers_found_first(*TRAINER_LOOKUPS):
        run_training(str(dataset_id), configuration, fold, trainer, plans, continue_training=resume, device=dev)


def _plan(args, threads) -> None:
    from nnunetv2.experiment_planning.plan_and_preprocess_entrypoints import plan_and_preprocess_entry

    print("nnUNetv2_plan_and_preprocess " + " ".join(args) + (" (worker pools in this process)" if threads == 1 else ""),
          flush=True)  # fmt: skip
    sys.argv = ["nnUNetv2_plan_and_preprocess", *args]
    with pools_in_process(*PLANNING_POOLS) if threads == 1 else contextlib.nullcontext():
        plan_and_preprocess_entry()


def _predict(model_dir, folds, images, out_dir, threads, device, tta, step_size) -> None:
    import torch
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    from .devices import resolve_device

    dev = resolve_device(device)
    torch.set_num_threads(int(threads) if dev.type == "cpu" else 1)
    predictor = nnUNetPredictor(tile_step_size=step_size, use_mirroring=tta, device=dev, allow_tqdm=False)
    with our_trainers_found_first(*TRAINER_LOOKUPS):
        predictor.initialize_from_trained_model_folder(model_dir, use_folds=tuple(folds))
    # as the predictor holds it (segmentation.tta), with the mirror axes the model allows
    mirroring = f"on (axes {tuple(predictor.allowed_mirroring_axes)})" if predictor.use_mirroring else "off"
    print(f"nnU-Net prediction: folds {list(folds)}, test-time mirroring {mirroring}", flush=True)
    # in this process (nnU-Net's predict_from_files spawns a preprocessing and an export worker, each
    # importing torch and nnU-Net again: most of a small job's time)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    predictor.predict_from_files_sequential(str(images), str(out_dir), save_probabilities=False, overwrite=True)


if __name__ == "__main__":
    command, arguments = sys.argv[1], json.loads(sys.argv[2])
    {"train": _train, "predict": _predict, "plan": _plan}[command](**arguments)
