"""The raw inputs' fingerprint (dcesynth.fingerprint): every change a user makes to a case's files
changes it, nothing else does. (That it reruns exactly the case: test_own_cohort, through Snakemake.)"""

from __future__ import annotations

import os
import shutil

from dcesynth.fingerprint import fingerprint


def test_every_change_to_a_case_s_files_changes_its_fingerprint(tmp_path):
    case = tmp_path / "Breast_MRI_001" / "study" / "3.000000-ax dyn pre-1"
    case.mkdir(parents=True)
    for i in range(3):
        (case / f"1-{i:02d}.dcm").write_bytes(bytes([i]) * 100)
    root = tmp_path / "Breast_MRI_001"
    seen = {fingerprint([root])}
    assert fingerprint([root]) in seen  # stable

    def changed() -> bool:
        fp = fingerprint([root])
        new = fp not in seen
        seen.add(fp)
        return new

    f = case / "1-01.dcm"
    st = f.stat()
    f.write_bytes(b"\x09" * 100)  # edited in place, same size
    assert changed()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns - 10**9))  # replaced by a copy one second older (cp -p)
    assert changed()
    (case / "1-03.dcm").write_bytes(b"x")  # added
    assert changed()
    (case / "1-03.dcm").unlink()  # removed again: the earlier state
    assert not changed()
    (case / "1-02.dcm").rename(case / "1-04.dcm")  # renamed
    assert changed()
    # the same files elsewhere (the data moved: Snakemake's own input trigger sees the new paths)
    moved = tmp_path / "elsewhere"
    shutil.copytree(root, moved, copy_function=shutil.copy2)
    os.utime(moved / "study", ns=(0, 0))  # folder times are not in it
    assert fingerprint([moved]) == fingerprint([root])


def test_files_in_order_and_a_missing_file(tmp_path):
    a, b = tmp_path / "pre.NII.GZ", tmp_path / "post1.nii.gz"
    a.write_bytes(b"a")
    b.write_bytes(b"b")
    assert fingerprint([a, b]) != fingerprint([b, a])  # each file is a sequence's: the order is the role
    missing = fingerprint([a, tmp_path / "gone.nii.gz"])
    assert missing != fingerprint([a, b]) and missing == fingerprint([a, tmp_path / "gone.nii.gz"])


def test_links_dangling_or_looping_do_not_stop_the_walk(tmp_path):
    """A dangling link (ingest skips it) and a link back up the tree (a loop) must not make every start
    fail: the dangling one counts as unreadable, the loop is walked once."""
    case = tmp_path / "case"
    (case / "series").mkdir(parents=True)
    (case / "series" / "1.dcm").write_bytes(b"x")
    before = fingerprint([case])
    (case / "series" / "gone.dcm").symlink_to(tmp_path / "nowhere.dcm")
    (case / "series" / "up").symlink_to(case)
    after = fingerprint([case])
    assert after != before and fingerprint([case]) == after
    (tmp_path / "nowhere.dcm").write_bytes(b"y")  # the link's target appears
    assert fingerprint([case]) != after
