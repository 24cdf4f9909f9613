"""Files shipped with the workflow (the split sheet, the paper's tables, the schema and demo config),
found beside the workflow rather than in the working directory, so that the workflow runs the same
when it is a Snakemake module of another (docs/module.md)."""

from __future__ import annotations

from pathlib import Path


class ShippedFiles:
    """``shipped("resources/duke_split.tsv")``: the path of a file by its path from the repository's
    root. ``workflow_dir`` is ``workflow.current_basedir`` while ``workflow/Snakefile`` is parsed (a
    Snakemake source file: a local folder, or a remote module's such as ``github(...)`` or ``gitfile(...)``). A
    local checkout's files are read in place; a remote module's through Snakemake's source cache
    (``sourcecache``), which keeps the files of a tagged release between runs."""

    def __init__(self, workflow_dir, sourcecache):
        self.workflow_dir, self.sourcecache = workflow_dir, sourcecache

    def __call__(self, rel: str) -> Path:
        from snakemake.sourcecache import LocalSourceFile

        source = self.workflow_dir.join(f"../{rel}")
        if isinstance(source, LocalSourceFile):  # a folder (`is_local` also holds for a local git repository)
            return Path(source.get_path_or_uri(secret_free=False)).resolve()
        return Path(self.sourcecache.get_path(source))
