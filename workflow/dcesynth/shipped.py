"""Files shipped with the workflow (the split sheet, the paper's tables, the schema and demo config),
found beside the workflow rather than in the working directory, so that the workflow runs the same
when it is a Snakemake module of another (docs/module.md)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

# Under Snakemake's source cache: copies of a remote module's files, one folder per content.
STABLE = "dcesynth-shipped"


class ShippedFiles:
    """``shipped("resources/duke_split.tsv")``: the path of a file by its path from the repository's
    root. ``workflow_dir`` is ``workflow.current_basedir`` while ``workflow/Snakefile`` is parsed (a
    Snakemake source file: a local folder, or a remote module's such as ``github(...)`` or
    ``gitfile(...)``).

    A local checkout's files are read in place. A remote module's are fetched through Snakemake's
    source cache (``sourcecache``), whose copy of an untagged source lives in a folder made anew for
    each run; its content is then copied once to ``{cache}/dcesynth-shipped/{sha256}/{name}``, so that
    a job's input path and modification time change only when the file's content does (a path that
    changed every run would rerun the jobs that read it every time)."""

    def __init__(self, workflow_dir, sourcecache):
        self.workflow_dir, self.sourcecache = workflow_dir, sourcecache

    def __call__(self, rel: str) -> Path:
        from snakemake.sourcecache import LocalSourceFile

        source = self.workflow_dir.join(f"../{rel}")
        if isinstance(source, LocalSourceFile):  # a folder (`is_local` also holds for a local git repository)
            # absolute and normalised, links kept: the path earlier versions gave the jobs (a path resolved
            # through a linked home folder would be a new input, and rerun its jobs)
            return Path(os.path.normpath(os.path.abspath(source.get_path_or_uri(secret_free=False))))
        return stable_copy(Path(self.sourcecache.get_path(source)), Path(self.sourcecache.cache_path) / STABLE,
                           Path(rel).name)  # fmt: skip


# The copies' modification time: fixed, so that a copy made again (its cache cleared) is not newer
# than the outputs made from it (its path changes with its content, which reruns those)
COPY_MTIME = 946684800  # 2000-01-01


def stable_copy(fetched: Path, root: Path, name: str) -> Path:
    """``fetched``'s bytes at ``root/{sha256}/{name}``, written once (atomically: jobs of several
    runs may start together), readable by all (a shared cache), and left as it is when it exists."""
    data = fetched.read_bytes()
    dest = root / hashlib.sha256(data).hexdigest() / name
    if not dest.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{name}.")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.utime(tmp, (COPY_MTIME, COPY_MTIME))
        os.replace(tmp, dest)
    return dest
