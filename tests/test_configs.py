"""The shipped configs say what they claim: duke.yaml is the paper's settings with real networks."""

from __future__ import annotations

import pytest
import yaml
from snakemake.utils import validate

from conftest import REPO, deep_update, default_config


def merged_duke() -> dict:
    """config.yaml overlaid with duke.yaml, as ``snakemake --configfile config/duke.yaml`` merges them."""
    return deep_update(default_config(), yaml.safe_load((REPO / "config" / "duke.yaml").read_text()))


def networks(cfg: dict, path: str = "") -> dict[str, dict]:
    """Every block of the config that selects a network's weights (it has a ``mode`` and ``weights``)."""
    out = {}
    for k, v in cfg.items():
        if isinstance(v, dict):
            if "mode" in v and "weights" in v:
                out[f"{path}{k}"] = v
            out |= networks(v, f"{path}{k}.")
    return out


def test_duke_config_uses_pretrained_networks_and_the_papers_settings():
    cfg = merged_duke()
    validate(cfg, str(REPO / "config" / "schema" / "config.schema.yaml"))
    nets = networks(cfg)
    assert set(nets) == {"gan.vgg", "metrics.fid_imagenet", "metrics.fid_radimagenet", "metrics.lpips"}
    for key, net in nets.items():
        assert net["mode"] == "pretrained" and net["weights"], key
    assert cfg["metrics"]["fid_imagenet"]["network"] == "tf_inception"
    assert cfg["metrics"]["fid_imagenet"]["weights"].endswith("pt_inception-2015-12-05-6726825d.pth")
    assert cfg["gan"]["precision"] == "fp32"
    assert "Duke" in cfg["data"]["cohort"]
    assert (cfg["metrics"]["n_pixel_pairs"], cfg["metrics"]["n_fid_pairs"], cfg["metrics"]["n_fid_pairs_test"]) == (5000, 3000, 2000)
    assert cfg["gan"]["eval_epochs"] == list(range(10, 171, 10))
    assert cfg["slices"]["range"] is None and cfg["slices"]["size"] == 512
    assert "range: [0, 196]" in (REPO / "config" / "duke.yaml").read_text()  # the paper's slices, documented
    assert [c[-3:] for c in cfg["report"]["synthesis_cases"]] == ["228", "886", "378", "907", "041", "045"]
    # the paper's single pix2pixHD: further models a user adds to the demo config do not reach a Duke run
    assert cfg["models"] is None


def test_duke_authors_config_switches_to_what_the_authors_code_did():
    from dcesynth.plan import Plan

    duke = merged_duke()
    # duke.yaml: the paper's text (a rotation), the authors' FID input
    assert duke["gan"]["augment"] == "rot90" and duke["metrics"]["fid_normalize"] == "per_image"
    assert duke["metrics"]["authors_size"] == 512
    cfg = deep_update(duke, yaml.safe_load((REPO / "config" / "duke_authors.yaml").read_text()))
    validate(cfg, str(REPO / "config" / "schema" / "config.schema.yaml"))
    assert cfg["gan"]["augment"] == "flip" and cfg["slices"]["use_n4"] is False
    assert cfg["metrics"]["sample_order"] == "first" and cfg["metrics"]["fid_normalize"] == "per_image"
    assert cfg["metrics"]["same_metrics"] == ["ssim_authors", "mse_authors", "mae_authors", "fid_imagenet", "fid_radimagenet"]
    # on the demo's cohort (Duke's data are not here): the augmentation is a training key of every
    # run, the sample order and the FID input scoring keys
    layered = {k: v for k, v in yaml.safe_load((REPO / "config" / "duke_authors.yaml").read_text()).items() if k != "slices"}
    layered["metrics"]["same_metrics"] = ["ssim_authors", "mse_authors", "mae_authors"]
    plan = Plan.from_config(deep_update(default_config(), layered), REPO / "resources" / "duke_split.tsv")
    assert {plan.training(run)["augment"] for run in plan.runs} == {"flip"}
    assert plan.epoch_scoring["sample_order"] == "first" and plan.epoch_scoring["fid_normalize"] == "per_image"


def test_demo_config_says_it_is_the_phantom():
    cfg = default_config()
    validate(cfg, str(REPO / "config" / "schema" / "config.schema.yaml"))
    assert "phantom" in cfg["data"]["cohort"] and str(cfg["phantom"]["seed"]) in cfg["data"]["cohort"]
    # the demo runs untrained networks on purpose: every table then says UNTRAINED
    assert {n["mode"] for n in networks(cfg).values()} == {"random"}


def test_unknown_keys_are_named_by_path_at_every_level():
    from dcesynth.config_keys import unknown_keys

    schema = yaml.safe_load((REPO / "config" / "schema" / "config.schema.yaml").read_text())
    cfg = deep_update(default_config(), {"devcie": "cpu", "metrics": {"fid_imagnet": {}}, "gan": {"vgg": {"wieghts": "x"}}})
    assert sorted(unknown_keys(cfg, schema)) == [
        "unknown key devcie (did you mean device?)",
        "unknown key gan.vgg.wieghts (did you mean gan.vgg.weights?)",
        "unknown key metrics.fid_imagnet (did you mean metrics.fid_imagenet?)",
    ]
    assert unknown_keys(default_config(), schema) == []
    # open mappings (training sets, per-rule resources) take names of the user's own
    assert unknown_keys(deep_update(default_config(), {"segmentation": {"scenarios": {"mine": {}}}}), schema) == []


@pytest.mark.integration
def test_a_typo_stops_the_dry_run_with_one_line(tmp_path):
    from conftest import make_workdir, run_snakemake, tiny_config

    wd = make_workdir(tmp_path, tiny_config())
    (wd / "typo.yaml").write_text("metrics:\n  n_fid_pair: 8\ngan:\n  source: pre\n")
    proc = run_snakemake(wd, "-n", "--configfile", "config/config.yaml", "typo.yaml", check=False)
    assert proc.returncode != 0
    out = proc.stderr + proc.stdout
    assert "Configuration error: gan.source is now called gan.input: write its value there and remove gan.source; " in out
    assert "unknown key metrics.n_fid_pair (did you mean metrics.n_fid_pairs?)" in out


def test_keys_and_values_of_an_older_version_are_named_with_their_new_names():
    from dcesynth.config_keys import renamed, unknown_keys

    schema = yaml.safe_load((REPO / "config" / "schema" / "config.schema.yaml").read_text())
    old = deep_update(default_config(), {"gan": {"source": "pre", "rotate_probability": 0.5}, "synthesis": {"intensity": "source"}})
    assert renamed(old) == [
        "gan.source is now called gan.input: write its value there and remove gan.source",
        "gan.rotate_probability is now called gan.augment_probability: write its value there and remove gan.rotate_probability",
        "synthesis.intensity: source is now called scanner",
    ]
    assert unknown_keys(old, schema) == []  # named once, as renamed, not also as unknown
    assert renamed(default_config()) == []


@pytest.mark.parametrize("change, message", [
    ({"series": {"include": "(dyn"}},
     "series.include: '(dyn' is not a regular expression (missing ), unterminated subpattern at position 0)"),
    ({"series": {"exclude": "sub[tr"}}, "series.exclude: 'sub[tr' is not a regular expression"),
    ({"slices": {"range": [6, 2]}}, "slices.range: [6, 2] holds no slice ([start, stop) with stop > start)"),
    ({"slices": {"range": [-2, -5]}}, "slices.range: [-2, -5] holds no slice ([start, stop) with stop > start)"),
    ({"slices": {"size": "1e3"}}, "slices.size: '1e3' is text to YAML, not a number (YAML reads an exponent only "
                                  "after a decimal point): write 1000"),
    ({"gan": {"input": "post1", "targets": ["post1"]}}, "gan.input post1 is also in gan.targets ['post1']"),
    ({"gan": {"targets": ["post3"]}, "data": {"post_phases": 1}},
     "gan: post3 is not a phase this run ingests (data.post_phases: 1 gives pre, post1)"),
    ({"models": {"unet": {"optionz": {}}}}, "unknown key models.unet.optionz (did you mean models.unet.options?)"),
    ({"resources": {"ingest": {"threadz": 1}}}, "unknown key resources.ingest.threadz (did you mean resources.ingest.threads?)"),
    ({"segmentation": {"scenarios": {"real_pre": {"tset_on": []}}}},
     "unknown key segmentation.scenarios.real_pre.tset_on (did you mean segmentation.scenarios.real_pre.test_on?)"),
    ({"gan": {"lr": "2e-4"}}, "gan.lr: '2e-4' is text to YAML, not a number (YAML reads an exponent only after a decimal "
                              "point): write 0.0002"),
    ({"gan": {"niter": "ten"}}, "gan.niter: 'ten' is not of type 'integer'"),
    ({"data": {"root": "/srv/dicom"}}, "data.root: /srv/dicom is outside the working directory"),
    ({"data": {"mask_pattern": "../masks/{case}.nii.gz"}}, "data.mask_pattern: ../masks/{case}.nii.gz is outside the "
                                                           "working directory"),
])  # fmt: skip
def test_values_are_refused_at_parse_time_in_one_line_naming_the_key(change, message):
    """Values the schema cannot judge (a regex, a slice range, the phases a model learns) and the
    schema's own refusals inside named entries, each as one line with the key (no schema dump)."""
    from conftest import parse_refusal

    out = parse_refusal(deep_update(default_config(), change))
    assert out.startswith("Configuration error: ") and message in out, out
    assert "\n" not in out and "Failed validating" not in out


def test_an_empty_mapping_in_a_later_config_file_empties_it(tmp_path):
    """`models: {}` in a later file means no further models (Snakemake's key-by-key merge alone keeps the
    earlier file's); a file after it adds to the emptied mapping again; other keys merge as before."""
    from snakemake.utils import update_config

    from dcesynth.config_keys import emptied_mappings

    files = [tmp_path / "a.yaml", tmp_path / "b.yaml", tmp_path / "c.yaml"]
    files[0].write_text("models: {unet: {family: unet}, nca: {family: nca}}\ngan: {niter: 3, vgg: {mode: random}}\n")
    files[1].write_text("models: {}\ngan: {vgg: {}}\n")
    files[2].write_text("gan: {niter: 5}\n")
    merged: dict = {}
    for f in files:  # as Snakemake merges config files
        update_config(merged, yaml.safe_load(f.read_text()))
    assert merged["models"] == {"unet": {"family": "unet"}, "nca": {"family": "nca"}}  # what Snakemake keeps
    emptied_mappings(merged, files)
    assert merged == {"models": {}, "gan": {"niter": 5, "vgg": {}}}
    files[2].write_text("models: {flow: {family: flow}}\n")
    merged = {}
    for f in files:
        update_config(merged, yaml.safe_load(f.read_text()))
    emptied_mappings(merged, files)
    assert merged["models"] == {"flow": {"family": "flow"}}
    # a JSON file indented with tabs (Snakemake reads it; YAML would not), and --config values, which win
    files[2] = tmp_path / "c.json"
    files[2].write_text('{\n\t"gan": {"niter": 7}\n}\n')
    merged = {}
    for f in files:
        update_config(merged, yaml.safe_load(f.read_text().replace("\t", " ")))
    emptied_mappings(merged, files, overrides={"models": {"unet": {"family": "unet"}}})
    assert merged["models"] == {"unet": {"family": "unet"}} and merged["gan"]["niter"] == 7


def test_a_phantom_data_folder_linked_elsewhere_is_inside_the_working_directory(tmp_path, monkeypatch):
    """`data/` linked to scratch storage (common on clusters) is inside the working directory as written."""
    from dcesynth.plan.checks import value_problems

    (tmp_path / "scratch").mkdir()
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "data").symlink_to(tmp_path / "scratch")
    monkeypatch.chdir(tmp_path / "work")
    cfg = default_config()
    assert value_problems(cfg) == []
    cfg["data"]["root"] = str(tmp_path / "scratch" / "dicom")
    assert any("is outside the working directory" in p for p in value_problems(cfg))


@pytest.mark.integration
def test_config_file_mistakes_stop_the_dry_run_naming_the_file_and_key(tmp_path):
    """Through Snakemake: `models: {}` in a second config file runs no further model; a YAML syntax
    error in config/config.yaml names the file, line and column."""
    from conftest import make_workdir, run_snakemake, tiny_config

    wd = make_workdir(tmp_path, tiny_config(models={"nca": {"family": "nca", "niter": 1, "niter_decay": 0}}))
    (wd / "none.yaml").write_text("models: {}\n")
    with_nca = run_snakemake(wd, "-n", "--configfile", "config/config.yaml")
    without = run_snakemake(wd, "-n", "--configfile", "config/config.yaml", "none.yaml")
    assert "nca (nca" in with_nca.stderr and "nca (nca" not in without.stderr
    assert "results/models/nca/" in with_nca.stdout and "results/models/nca/" not in without.stdout
    (wd / "config" / "config.yaml").write_text("gan:\n  niter: 3\n   lr: 1\n")
    broken = run_snakemake(wd, "-n", check=False)
    assert broken.returncode != 0
    assert ("Configuration error: config/config.yaml, line 3, column 6: not valid YAML (mapping values are not "
            "allowed here)") in broken.stderr + broken.stdout  # fmt: skip


@pytest.mark.integration
def test_a_bad_value_stops_the_run_before_snakemake_deletes_anything(tmp_path, tiny_run):
    """A changed series.include reruns every ingest job (its parameter), and Snakemake deletes a job's
    outputs before running it: a value refused at parse time stops the run before that, so the finished
    volumes are still there, unchanged."""
    from conftest import copy_of_run, run_snakemake

    wd = copy_of_run(tiny_run, tmp_path / "run")
    volumes = sorted((wd / "results" / "nifti").rglob("*.nii.gz"))
    before = {p: p.stat().st_mtime_ns for p in volumes}
    (wd / "bad.yaml").write_text("series:\n  include: '(dyn'\n")
    proc = run_snakemake(wd, "--cores", "2", "--configfile", "config/config.yaml", "bad.yaml", check=False)
    assert proc.returncode != 0
    assert "Configuration error: series.include: '(dyn' is not a regular expression" in proc.stderr + proc.stdout
    assert volumes and {p: p.stat().st_mtime_ns for p in volumes if p.exists()} == before
