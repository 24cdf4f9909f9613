"""The workflow used as a Snakemake module, as the workflow catalog deploys it (`snakedeploy
deploy-workflow`, docs/module.md): shipped files are read from the workflow's folder, never from the
user's working directory."""

from __future__ import annotations

import re
import subprocess

import pytest

from conftest import REPO, copy_of_run, run_snakemake, snakemake_deployed


@pytest.mark.integration
def test_the_tiny_run_made_through_the_module_is_the_clone_s(tmp_path, tiny_run):
    """The session's tiny run is made through the workflow deployed as a module (conftest.tiny_run):
    the whole tiny config runs that way. Its copy, with no resources/ in it, is up to date for the
    repository's own Snakefile (the same files, parameters, code and shipped inputs), and the jobs that
    read shipped files (the paper's tables) remake the same tables through the module."""
    assert "module dcesynth:" in (tiny_run / "workflow" / "Snakefile").read_text()
    assert (tiny_run / "report.html").is_file() and (tiny_run / "results" / "tables" / "model_ranking.tsv").is_file()
    wd = copy_of_run(tiny_run, tmp_path / "deployment")
    assert not (wd / "resources").exists() and not (wd / "Snakefile").exists()
    dry = run_snakemake(wd, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-3000:] + dry.stderr[-3000:]

    for table in ("table1.tsv", "paper_table1.tsv", "segmentation.tsv"):
        (wd / "results" / "tables" / "tiny" / table).unlink()
    run = snakemake_deployed(wd, "--cores", "2")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    log = run.stdout + run.stderr
    assert re.search(r"rule image_quality_tables:", log) and re.search(r"rule segmentation_tables:", log), log[-3000:]
    for table in ("paper_table1.tsv", "segmentation.tsv"):
        made = f"results/tables/tiny/{table}"
        assert (wd / made).read_text() == (tiny_run / made).read_text()


def test_a_remote_module_reads_shipped_files_through_the_source_cache(tmp_path):
    """A module from a git repository (as from GitHub) has no folder to read in place: its files come
    through Snakemake's source cache, whose copy of an untagged source is made anew for each run. The
    path a job reads must still change only with the file's content (else its jobs rerun every
    time). Real Snakemake source files and cache, on a real git repository."""
    from snakemake.sourcecache import LocalGitFile, LocalSourceFile, SourceCache

    from dcesynth.shipped import COPY_MTIME, ShippedFiles

    repo = tmp_path / "repo"
    (repo / "resources").mkdir(parents=True)
    (repo / "workflow").mkdir()
    (repo / "workflow" / "Snakefile").write_text("")
    (repo / "resources" / "paper_table1.tsv").write_text("metric\tvalue\nSSIM\t0.7\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "v1"], check=True)

    def resolve(rel):
        cache = SourceCache(tmp_path / "cache")  # one per Snakemake process
        workflow_dir = LocalGitFile(str(repo), "workflow/Snakefile", ref="main").get_basedir()
        return ShippedFiles(workflow_dir, cache)(rel)

    first, second = resolve("resources/paper_table1.tsv"), resolve("resources/paper_table1.tsv")
    # (Snakemake reads a git repository's file without its final newline)
    assert first == second and first.read_text().rstrip("\n") == "metric\tvalue\nSSIM\t0.7"
    assert tmp_path / "cache" in first.parents and first.name == "paper_table1.tsv"
    # readable by all (a shared cache); an old fixed time, so that a copy made again reruns nothing
    assert first.stat().st_mode & 0o777 == 0o644 and first.stat().st_mtime == COPY_MTIME
    first.unlink()
    assert resolve("resources/paper_table1.tsv").stat().st_mtime == COPY_MTIME

    (repo / "resources" / "paper_table1.tsv").write_text("metric\tvalue\nSSIM\t0.8\n")
    subprocess.run([*git, "commit", "-qam", "v2"], check=True)
    changed = resolve("resources/paper_table1.tsv")
    assert changed != first and changed.read_text().rstrip().endswith("0.8") and first.read_text().rstrip().endswith("0.7")

    # a local checkout's files are read in place, by the path it was given (a link in it kept: a path
    # resolved through it would be a new input for the jobs made before)
    (tmp_path / "linked").symlink_to(repo)
    local = ShippedFiles(LocalSourceFile(str(tmp_path / "linked" / "workflow")), SourceCache(tmp_path / "cache2"))
    assert local("resources/paper_table1.tsv") == tmp_path / "linked" / "resources" / "paper_table1.tsv"


def test_no_rule_reads_a_shipped_file_from_the_working_directory():
    """Every shipped file a rule, a script or the package reads is named through `shipped(...)` and
    passed on: a path such as "resources/…" or "config/schema/…" written into a rules file, a script or
    the package would be looked up in the user's working directory, which a module deployment does not
    fill. (The benchmarks run from a checkout and read its files by the checkout's path.)"""
    shipped = {p.relative_to(REPO).as_posix() for d in ("resources", "config/schema") for p in (REPO / d).iterdir()}
    for smk in [REPO / "workflow" / "Snakefile", *(REPO / "workflow" / "rules").glob("*.smk")]:
        text = smk.read_text()
        for rel in shipped:
            for m in re.finditer(re.escape(rel), text):
                before = text[max(0, m.start() - 12): m.start()]
                assert "shipped(" in before or "../" in before, f"{smk.name} names {rel} outside shipped(): {before}{rel}"
    code = [*(REPO / "workflow" / "scripts").glob("*.py"),
            *(p for p in (REPO / "workflow" / "dcesynth").rglob("*.py")
              if "bench" not in p.parts and p.name != "shipped.py")]  # fmt: skip (shipped.py: the resolver)
    for py in code:
        literal = re.search(r"[\"'](\./)?(resources|config/schema)/", py.read_text())
        assert not literal, f"{py.relative_to(REPO)} reads a shipped file by a relative path: {literal.group(0)}"
