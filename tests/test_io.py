"""Atomic outputs on a really full disk: a small tmpfs mounted for the test (needs root; CI runs as root)."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import torch

from dcesynth import io
from dcesynth.training.checkpoints import save_state


@pytest.fixture
def full_disk(tmp_path):
    mnt = tmp_path / "small_fs"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if proc.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a small tmpfs in CI: {proc.stderr}")
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _noise(shape=(48, 64, 64)):
    return np.random.default_rng(0).normal(size=shape).astype(np.float32)  # 786 kB, incompressible


def test_disk_full_leaves_no_partial_file(full_disk):
    small = sitk.GetImageFromArray(np.zeros((4, 4, 4), np.float32))
    io.write_image(small, full_disk / "volume.nii.gz")  # fits
    before = (full_disk / "volume.nii.gz").read_bytes()
    writers = [
        (lambda p: io.write_image(sitk.GetImageFromArray(_noise()), p), "volume.nii.gz"),  # overwrite fails
        (lambda p: io.write_image(sitk.GetImageFromArray(_noise()), p), "new.nii.gz"),
        (lambda p: io.write_npy(_noise(), p), "slices.npy"),
        (lambda p: io.write_table(pd.DataFrame({"x": _noise((200_000,))}), p), "table.tsv"),
        (lambda p: io.write_json({"x": _noise((60_000,)).tolist()}, p), "meta.json"),
        (lambda p: save_state({"w": torch.from_numpy(_noise())}, p), "state_epoch_3.pt"),
    ]
    for write, name in writers:
        with pytest.raises((OSError, RuntimeError)):
            write(full_disk / name)
        leftovers = sorted(p.name for p in full_disk.iterdir())
        assert leftovers == ["volume.nii.gz"], (name, leftovers)  # no partial or temporary file
    assert (full_disk / "volume.nii.gz").read_bytes() == before  # the old output is untouched


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_a_writer_killed_by_sigterm_leaves_nothing_after_the_rerun(tmp_path, kind):
    """A writer killed as a scheduler kills (SIGTERM, mid-write, in a real process) leaves its hidden
    temporary file or folder (a DICOM series folder is one); the rerun's write removes it, and another
    output's temporary sibling is left alone."""
    import signal
    import sys

    target = tmp_path / ("synthetic_post1" if kind == "folder" else "post1.nii.gz")
    other = tmp_path / ".tmp-0123456789ab-other.nii.gz"
    other.write_text("another output's write in progress")
    code = f"""
import pathlib, sys, time
from dcesynth import io
with io.atomic_path(pathlib.Path({str(target)!r})) as tmp:
    if {kind == "folder"}:
        tmp.mkdir()
        (tmp / "0001.dcm").write_bytes(b"x" * 1000)
    else:
        tmp.write_bytes(b"x" * 1000)
    print("writing", flush=True)
    time.sleep(60)
"""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    left = [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-") and p != other]
    assert len(left) == 1 and not target.exists()  # what the killed job left
    with io.atomic_path(target) as tmp:  # the rerun
        if kind == "folder":
            tmp.mkdir()
            (tmp / "0001.dcm").write_bytes(b"y")
        else:
            tmp.write_bytes(b"y")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, other.name])
