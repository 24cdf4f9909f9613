"""The plan (dcesynth.plan): the DAG's shape from the config alone, in milliseconds, no Snakemake."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dcesynth.errors import ConfigError
from dcesynth.plan import Plan, by_case, path

from conftest import REPO, default_config, deep_update, parse_refusal, tiny_config, write_mama_mia


def plan_of(cfg: dict) -> Plan:
    return Plan.from_config(cfg, REPO / "resources" / "duke_split.tsv")


def test_importing_the_plan_imports_no_snakemake():
    code = "import sys, dcesynth.plan; sys.exit('snakemake' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_the_demo_plan():
    plan = plan_of(default_config())
    assert len(plan.case_ids) == 20 and len(plan.masked) == 12
    assert [len(plan.cases_in(s)) for s in ("train", "val", "test")] == [8, 8, 4]
    assert set(plan.cases_in("train")).isdisjoint(plan.masked)  # the demo has unannotated cases
    assert plan.synth_cases == plan.eval_cases and set(plan.eval_cases) == set(plan.masked)  # the annotated ones
    every = plan_of(deep_update(default_config(), {"synthesis": {"cases": "all"}}))
    assert sorted(every.synth_cases) == sorted(plan.case_ids) and every.eval_cases == plan.eval_cases
    assert plan.eval_epochs == [2, 4, 6, 8, 10] and plan.export_epochs == [2, 4, 6, 8, 10]
    assert len(plan.scenarios) == 7 and len(plan.seg_pairs) == 12 and plan.refusals == []
    assert sorted(plan.seg_cv["fold"]) == [0, 0, 0, 0, 1, 1, 1] and len(plan.seg_test) == 4
    assert set(plan.seg_cv["case_id"]) | set(plan.seg_test) <= set(plan.eval_cases)
    main = plan.run_of(plan.run)
    assert (main.family, main.main, main.label, main.processes) == ("pix2pixHD", True, "best", 1)
    assert plan.synthesis_generator(plan.run) == f"results/models/{plan.run}/generator_best.pt" == main.generator
    assert plan.model_dir("r", "real_pre") == (
        "results/segmentation/r/real_pre/nnUNet_results/Dataset501_real_pre/nnUNetTrainer_dcesynth_demo__nnUNetPlans__3d_fullres")
    assert "eval_every" not in plan.training(plan.run) and "lpips" not in plan.epoch_scoring and "lpips" in plan.scoring
    assert plan.summary().splitlines()[3] == "  GAN        train 8, validation 8, test 4  (splits.method: generated)"


def test_path_templates_and_case_mappings():
    assert path("mask", case="A") == "results/nifti/A/mask.nii.gz"
    assert path("volume", stage="n4") == "results/n4/{case}/{seq}.nii.gz"  # the rest stay wildcards
    assert by_case("slices", ["A", "B"], ["pre"]) == {"A": {"pre": "results/slices/A/pre.npy"},
                                                      "B": {"pre": "results/slices/B/pre.npy"}}  # fmt: skip
    assert by_case("synthetic", ["A"], run="r", seq="post1") == {"A": "results/synthetic/r/A/post1.nii.gz"}


def test_synthesis_only_holds_no_case_back_for_training(tmp_path):
    init = tmp_path / "G.pth"
    init.write_bytes(b"")
    cfg = tiny_config(gan={"niter": 0, "niter_decay": 0, "init_generator": str(init),
                           "vgg": {"mode": "pretrained", "weights": "missing.pth"}},  # fmt: skip
                      splits={"min_gan_train_cases": 100, "annotated_gan_fraction": 0.9})
    plan = plan_of(cfg)
    assert plan.synthesis_only and plan.eval_epochs == [] and plan.export_epochs == [0]
    assert set(plan.cases_in("train")).isdisjoint(plan.masked)  # annotated cases all evaluated
    assert plan.synthesis_generator("tiny") == "results/models/tiny/generator/epoch_0.pt"
    cfg["gan"]["init_generator"] = None
    with pytest.raises(ConfigError, match="gan.init_generator must name the generator"):
        plan_of(cfg)


def test_refusals_are_listed_after_the_plan_is_made():
    plan = plan_of(tiny_config(splits={"n_folds": 20}))
    assert plan.summary()  # the summary can still be printed before the run stops
    assert any("segmentation folds" in r and "(3 annotated CV cases for splits.n_folds = 20)" in r for r in plan.refusals)
    off = plan_of(tiny_config(splits={"n_folds": 20}, segmentation={"enabled": False, "run": []}))
    assert off.refusals == [] and off.seg_pairs == []


def test_chosen_and_pretrained_scenarios(tmp_path):
    cfg = deep_update(tiny_config(), {"segmentation": {"run": ["real_pre+syn_post"]}})
    assert plan_of(cfg).seg_pairs == [("real_pre+syn_post", "real_post")]
    model = tmp_path / "Dataset321_Other" / "T__P__3d_fullres"
    (model / "fold_1").mkdir(parents=True)
    (model / "fold_1" / "checkpoint_final.pth").write_bytes(b"")
    (model / "plans.json").write_text("{}")
    (model / "dataset.json").write_text('{"channel_names": {"0": "MRI"}}')
    cfg["segmentation"].update(run=[], pretrained_model={"folder": str(model), "folds": None, "test_on": ["syn_post"]})
    plan = plan_of(cfg)
    assert plan.seg_pairs == [("pretrained", "syn_post")] and plan.folds("pretrained") == [1]
    assert plan.table_scenarios == {"pretrained": {"id": 321}} and plan.dataset_name("pretrained") == "Dataset321_Other"
    assert plan.model_dir("r", "pretrained") == str(model)
    (model / "dataset.json").write_text('{"channel_names": {"0": "pre", "1": "post"}}')
    with pytest.raises(ConfigError, match="the model takes 2 input channels"):
        plan_of(cfg)


def test_one_public_name_one_function():
    """No two public functions or classes of the package share a name (CLI ``main``s aside)."""
    import ast
    from collections import defaultdict

    where = defaultdict(list)
    for f in (REPO / "workflow" / "dcesynth").rglob("*.py"):
        for node in ast.parse(f.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                where[node.name].append(f.relative_to(REPO).as_posix())
    assert {n: fs for n, fs in where.items() if len(fs) > 1 and n != "main"} == {}


def test_a_job_granted_no_gpu_computes_on_the_cpu():
    """The plan decides who gets a GPU (gpu resource); under `auto` a job granted none runs on the
    CPU even where its node has one. (A plain record stands in for the job's snakemake object.)"""
    from types import SimpleNamespace

    from dcesynth.devices import job_device

    def job(device, **resources):
        return SimpleNamespace(config={"device": device}, resources=resources)

    assert job_device(job("auto", gpu=0)) == "cpu"
    assert job_device(job("auto", gpu=1)) == "auto" and job_device(job("auto")) == "auto"
    assert job_device(job("cuda", gpu=0)) == "cuda" and job_device(job("cpu", gpu=1)) == "cpu"


def test_targets_and_the_files_of_a_job():
    plan = plan_of(default_config())
    pre = plan.targets("preprocess")
    assert len(pre) == 20 * 4 + 12 + 3 and "results/slices/Phantom_001/post3.npy" in pre
    every = plan.targets("all")
    assert set(every) >= {path("mask", case=c) for c in plan.masked} and "results/tables/pix2pixhd_demo/segmentation.tsv" in every
    assert "results/models/pix2pixhd_demo/state/epoch_10.pt" in plan.targets("synthesis")
    figure = plan.figure_files("r")
    assert list(figure) == plan.figure_cases()
    assert all(bool(f["mask"]) == (c in plan.masked) for c, f in figure.items())
    assert plan.synthesis_files("r", "X")["post1"]["real"] == "results/n4/X/post1.nii.gz"
    crops = plan.training_crops("r", "real_pre+syn_post")
    assert sorted(crops["images"]) == sorted(plan.seg_cv["case_id"])
    assert set(next(iter(crops["images"].values()))) == {"real_pre", "syn_post"}


def test_training_processes_and_the_dicom_export_in_the_plan():
    # 2 processes x 2 pairs is the global batch of 4: the training params (what reruns) are those of 1 x 4
    one = plan_of(deep_update(default_config(), {"gan": {"processes": 1, "batch_size": 4}}))
    two = plan_of(deep_update(default_config(), {"gan": {"processes": 2, "batch_size": 2}}))
    assert one.training(one.run) == two.training(two.run) and two.training(two.run)["batch_size"] == 4
    assert "processes" not in two.training(two.run) and two.gan_processes == 2
    with pytest.raises(ConfigError, match="needs gan.generator.norm: instance"):
        plan_of(deep_update(default_config(), {"gan": {"processes": 2, "generator": {"norm": "batch"}}}))
    # every synthetic volume is exported as a DICOM series unless switched off
    series = [t for t in one.targets("synthesis") if t.startswith("results/dicom/")]
    assert len(series) == len(one.synth_cases) and series[0].endswith("/synthetic_post1")
    off = plan_of(deep_update(default_config(), {"export": {"dicom": {"enabled": False}}}))
    assert not [t for t in off.targets("all") if t.startswith("results/dicom/")]


def test_segmentation_seg_objects_and_the_viewer_in_the_plan():
    plan = plan_of(default_config())
    segs = [t for t in plan.targets("all") if t.endswith(".dcm")]
    # one SEG per test case and (scenario, domain) prediction, beside that case's series
    assert len(segs) == len(plan.seg_test) * len(plan.seg_pairs) == 4 * 12
    files = plan.dicom_seg_files("demo", "Case_1")
    assert files["predictions"]["real_pre+syn_post|real_post"] == {
        "prediction": "results/segmentation/demo/real_pre+syn_post/predictions/real_post/Case_1.nii.gz",
        "seg": "results/dicom/demo/Case_1/seg_real_pre+syn_post_on_real_post.dcm"}
    assert files["references"] == {
        "real_pre": {"seq": "pre", "volume": "results/n4/Case_1/pre.nii.gz", "series": "results/dicom/demo/Case_1/real_pre"},
        "real_post": {"seq": "post1", "volume": "results/n4/Case_1/post1.nii.gz", "series": "results/dicom/demo/Case_1/real_post1"}}  # fmt: skip
    for off in ({"export": {"dicom": {"enabled": False}}}, {"segmentation": {"enabled": False}}):
        assert not [t for t in plan_of(deep_update(default_config(), off)).targets("all") if t.endswith(".dcm")]
    # the viewer: the figures' cases first, then other validation and test cases, viewer_cases in all
    viewer = plan.viewer_cases()
    assert viewer[: len(plan.figure_cases())] == plan.figure_cases() and len(viewer) == 8
    assert set(viewer) <= set(plan.eval_cases) and len(set(viewer)) == 8
    assert set(plan.case_roles(viewer).values()) <= {"validation", "test"}
    assert f"results/viewer/{plan.run}/index.html" in plan.targets("all")
    none = plan_of(deep_update(default_config(), {"report": {"viewer_cases": 0}}))
    assert not [t for t in none.targets("all") if "viewer" in t]


def test_further_models_are_runs_of_their_own():
    import re

    extra = {"u": {"family": "unet", "niter": 1, "niter_decay": 1},
             "n": {"family": "flow", "target": "subtraction", "eval_every": 1, "niter": 2, "niter_decay": 0}}  # fmt: skip
    alone = deep_update(default_config(), {"models": None})  # pix2pixHD alone
    plan = plan_of(deep_update(alone, {"models": extra}))
    assert plan.runs == [plan.run, "u", "n"] and plan.family(plan.run) == "pix2pixHD" and plan.family("u") == "unet"
    assert plan.n_epochs_of("u") == 2 and plan.eval_epochs_of("u") == [2] and plan.eval_epochs_of("n") == [1, 2]
    n = plan.training("n")
    assert n["family"] == "flow" and n["target"] == "subtraction" and "eval_every" not in n
    assert n["input"] == plan.gan["input"] and n["targets"] == plan.gan["targets"] and n["seed"] == plan.gan["seed"]
    main = plan.training(plan.run)
    assert main["generator"] == plan.gan["generator"] and not {"family", "run", "eval_every", "processes"} & set(main)
    targets = plan.targets("all")
    for t in ("results/models/n/state/epoch_2.pt", "results/models/n/generator/epoch_1.pt", "results/metrics/u/epochs.tsv",
              "results/tables/u/table1.tsv", "results/tables/n/tumour_region.tsv", "results/figures/n/synthesis_grid.png"):
        assert t in targets, t
    assert plan.synthesis_generator("u") == "results/models/u/generator_best.pt"
    assert "models     " in plan.summary() and "n (flow, target subtraction, 2 epochs)" in plan.summary()
    # without further models the plan is the pix2pixHD one, unchanged
    mine = re.compile(r"results/(models|metrics|synthetic|subtraction|figures|tables|mama_synth)/(u/|n/|u$|n$|model_)")
    assert plan_of(alone).targets("all") == [t for t in targets if not mine.match(t)]
    with pytest.raises(ConfigError, match="the name is gan.run's"):
        plan_of(deep_update(alone, {"models": {plan.run: {"family": "nca"}}}))
    with pytest.raises(ConfigError, match="niter \\+ niter_decay is 0"):
        plan_of(deep_update(alone, {"models": {"x": {"family": "nca", "niter": 0, "niter_decay": 0}}}))
    # a family's own targets: the NCA evolves the image itself (TeNCA), it learns no subtraction
    with pytest.raises(ConfigError, match="models.x.target: subtraction is not a target of the nca family"):
        plan_of(deep_update(alone, {"models": {"x": {"family": "nca", "target": "subtraction"}}}))
    with pytest.raises(ConfigError, match="models.x.family: 'pix2pixHD' is not one of unet, nca, flow, external .pix2pixHD is the gan block"):
        plan_of(deep_update(alone, {"models": {"x": {"family": "pix2pixHD"}}}))


def test_an_epochs_threads_and_the_training_chains_priorities():
    alone = deep_update(default_config(), {"models": None})
    models = {"u": {"family": "unet", "niter": 1, "niter_decay": 1}, "n": {"family": "nca", "niter": 1, "niter_decay": 1}}
    plan = plan_of(deep_update(alone, {"models": models}))
    threaded = plan_of(deep_update(alone, {"models": {**models, "u": {**models["u"], "threads": 1}}}))
    # models.<run>.threads, else resources.train_epoch's (2 in the demo config); not a training key
    assert plan.rule_threads("train_epoch") == 2
    assert threaded.epoch_threads("u") == 1 and threaded.epoch_threads("n") == threaded.epoch_threads(plan.run) == 2
    assert threaded.training("u") == plan.training("u")
    # the preprocessing the chains wait for first, then the main run's chain before the other
    # models', an epoch before the rest of its run's chain
    assert (plan.preprocess_priority > plan.training_priority(plan.run, epoch=True) > plan.training_priority(plan.run)
            > plan.training_priority("u", epoch=True) > plan.training_priority("u") > 0)  # fmt: skip


def test_the_ranking_segments_every_models_images_with_one_fixed_segmenter():
    from dcesynth.segmentation import FIXED

    plan = plan_of(deep_update(default_config(), {"models": {"u": {"family": "unet", "niter": 1, "niter_decay": 1}}}))
    assert plan.fixed_segmenter == "real_post"
    main = plan.model_dir(plan.run, "real_post")
    # the model's synthetic images go through the main run's real_post model, filed under the model
    assert plan.model_dir("u", FIXED) == main and plan.folds(FIXED) == plan.seg_folds
    assert plan.dataset_name(FIXED) == plan.dataset_name("real_post")
    seg = plan.ranking_segmentation()
    case = plan.seg_test[0]
    assert seg["runs"]["u"][case] == f"results/segmentation/u/{FIXED}/predictions/syn_post/{case}.nii.gz"
    assert seg["runs"][plan.run][case] == f"results/segmentation/{plan.run}/{FIXED}/predictions/syn_post/{case}.nii.gz"
    # the pre-contrast baseline: the real_post scenario's own test on real_pre, which the paper's plan makes
    assert seg["baseline"][case] == f"results/segmentation/{plan.run}/real_post/predictions/real_pre/{case}.nii.gz"
    assert seg["cases"] == list(plan.seg_test)
    assert "segmented by nnU-Net real_post" in plan.summary()
    # without the real_post scenario (and no pretrained model) there is no fixed segmenter
    plan = plan_of(deep_update(default_config(), {"models": {"u": {"family": "unet"}}, "segmentation": {"run": ["real_pre"]}}))
    assert plan.fixed_segmenter is None and plan.ranking_segmentation() == {}
    assert "segmented by none (real_post does not run)" in plan.summary()
    # another scenario named: its model segments, and the baseline gets a prediction of its own
    plan = plan_of(deep_update(default_config(), {"models": {"u": {"family": "unet"}},
                                                  "segmentation": {"run": ["real_post+real_pre"], "ranking_segmenter": "real_post+real_pre"}}))  # fmt: skip
    assert plan.fixed_segmenter == "real_post+real_pre"  # tested on real_post only
    assert plan.ranking_segmentation()["baseline"][case] == f"results/segmentation/{plan.run}/{FIXED}/predictions/real_pre/{case}.nii.gz"


def test_gan_processes_must_divide_among_the_nodes():
    with pytest.raises(ConfigError, match="multiple of gan.nodes"):
        plan_of(deep_update(default_config(), {"gan": {"processes": 3, "nodes": 2}}))
    plan = plan_of(deep_update(default_config(), {"gan": {"processes": 4, "nodes": 2, "batch_size": 1}}))
    # like processes, nodes is how an epoch runs, not what it trains: the training params hold neither
    assert plan.gan_nodes == 2 and "nodes" not in plan.training(plan.run) and plan.training(plan.run)["batch_size"] == 4


def test_synthesis_epoch_must_be_an_exported_one():
    """synthesis.epoch: an exported epoch synthesises (the SAMe choice is not made for it); one
    whose generator is never exported, or any epoch when nothing trains, is refused by name."""
    from conftest import TINY_MODELS, parse_refusal, tiny_config

    plan = plan_of(tiny_config(synthesis={"epoch": 2}))  # tiny: 4 epochs, every 2nd exported
    assert plan.export_epochs == [2, 4] and plan.synthesis_generator("tiny") == "results/models/tiny/generator/epoch_2.pt"
    models = plan_of(tiny_config(synthesis={"epoch": 4}, models=TINY_MODELS))
    assert models.synthesis_generator("nca") == "results/models/nca/generator_best.pt"  # pix2pixHD's key only
    assert plan_of(tiny_config()).synthesis_generator("tiny") == "results/models/tiny/generator_best.pt"
    for epoch in (3, 5):
        assert (f"synthesis.epoch: {epoch} is not an exported epoch (exported: 2, 4: every gan.eval_every-th or "
                "gan.eval_epochs, and the last)") in parse_refusal(tiny_config(synthesis={"epoch": epoch}))  # fmt: skip
    assert plan_of(tiny_config(synthesis={"epoch": 3}, gan={"eval_every": 1})).synthesis_generator("tiny").endswith("epoch_3.pt")
    published = tiny_config(synthesis={"epoch": 1}, gan={"niter": 0, "niter_decay": 0, "init_generator": __file__})
    assert "synthesis.epoch: 1 is not an exported epoch (exported: none: nothing trains" in parse_refusal(published)


def test_cuda_requested_without_a_gpu_is_refused(monkeypatch):
    """device: cuda on a machine torch sees no GPU on stops the job with the key to change (torch's
    own answer is replaced by "none", so the test means the same on a GPU machine)."""
    import torch

    from dcesynth.devices import resolve_device
    from dcesynth.errors import ConfigError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"device: cuda was requested but no CUDA device is available \(use auto or cpu\)"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu" and resolve_device("cpu").type == "cpu"


def test_case_sheet_problems_are_refused_all_at_once(tmp_path):
    cases = write_mama_mia(tmp_path / "mm", [1, 1, 1])
    (tmp_path / "sheets").mkdir()
    sheet = tmp_path / "sheets" / "cases.tsv"
    rows = ["case_id\tpre\tpost1\tmask"]
    for i, (case, info) in enumerate(cases.items()):
        pre = "" if i == 0 else f"../mm/images/{case}/{case.lower()}_0000.nii.gz"  # relative to the sheet
        post = f"../mm/images/{case}/{case.lower()}_000{1 if i != 1 else 7}.nii.gz"
        rows.append(f"{case}\t{pre}\t{post}\t")
    sheet.write_text("\n".join(rows) + "\n")
    cfg = tiny_config(data={"source": "nifti", "cases": str(sheet), "mask_pattern": None, "post_phases": 1})
    out = parse_refusal(cfg)
    assert "2 problem(s)" in out
    assert "case SITE1_001: the 'pre' cell is empty" in out
    assert f"case SITE2_002: post1 file {sheet.parent}/../mm/images/SITE2_002/site2_002_0007.nii.gz does not exist" in out
    assert "SITE1_003" not in out.split("problem(s)")[1]  # its relative paths resolve from the sheet's folder


def test_duke_split_on_other_case_ids_suggests_generated():
    out = parse_refusal(tiny_config(splits={"method": "duke"}))
    assert "6 case(s) are not in the Duke split sheet: Phantom_001" in out
    assert "use splits.method: generated" in out


def test_each_run_labels_table1_with_the_epoch_it_synthesises_with():
    """synthesis.epoch chooses the main run's generator; the further models synthesise with SAMe's
    choice, and their Table 1 says so (it said the main run's epoch)."""
    plan = plan_of(deep_update(default_config(), {"synthesis": {"epoch": 4}}))
    main, unet = plan.run_of(plan.run), plan.run_of("unet")
    assert (main.label, main.generator) == ("ep4", f"results/models/{plan.run}/generator/epoch_4.pt")
    assert (unet.label, unet.generator) == ("best", "results/models/unet/generator_best.pt")
    assert not plan.selected_by_same and unet.family == "unet" and not unet.main
    published = plan_of(deep_update(default_config(), {"gan": {"niter": 0, "niter_decay": 0, "init_generator": __file__},
                                                       "models": None}))  # fmt: skip
    assert published.run_of(published.run).label == "ep0" and published.export_epochs == [0]
    # a new version of a family's state format retrains its runs (a training key)
    assert unet.training["state_format"] == "dcesynth-model-state-2" and "state_format" not in main.training


def _import_graph() -> dict[str, set[str]]:
    """Module → the package's modules it imports, at the top or inside a function (both run)."""
    import ast

    root = REPO / "workflow"
    modules = {}
    for f in (root / "dcesynth").rglob("*.py"):
        parts = f.relative_to(root).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        modules[name] = (f, is_package)
    graph = {}
    for name, (f, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                base = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def test_no_import_cycles_in_the_package():
    """No module imports, directly or through others, a module that imports it: not at the top and
    not inside a function (where a cycle only waits for the call)."""
    graph = _import_graph()
    # the graph sees relative imports, function-level ones and `from . import name`
    assert {"dcesynth.training.checkpoints", "dcesynth.training", "dcesynth.models"} <= graph["dcesynth.training.epoch"]
    assert "dcesynth.training.distributed" in graph["dcesynth.training.worker"]
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == [], "\n".join(" -> ".join(c) for c in cycles)


def test_no_module_is_longer_than_400_lines_and_common_smk_200():
    long = {f.relative_to(REPO).as_posix(): n for f in (REPO / "workflow" / "dcesynth").rglob("*.py")
            if (n := len(f.read_text().splitlines())) > 400}  # fmt: skip
    assert long == {}
    assert len((REPO / "workflow" / "rules" / "common.smk").read_text().splitlines()) <= 200


def test_an_earlier_versions_rule_names_and_results_folder_get_one_message_each(tmp_path):
    """The rules and folders named gan serve every family now: resources of the old rule names and
    an old results tree are named, with what to write instead."""
    from dcesynth.config_keys import renamed_folders

    plan = plan_of(deep_update(default_config(), {"resources": {"train_gan_epoch": {"threads": 2}}}))
    with pytest.raises(ConfigError, match="resources.train_gan_epoch: the rule is now called train_epoch"):
        plan.check_resource_keys(["train_epoch", "all"])
    assert renamed_folders(tmp_path) == []
    (tmp_path / "results" / "gan" / "run1").mkdir(parents=True)
    (message,) = renamed_folders(tmp_path, retrain=["nca", "flow"])
    assert "mv results/gan results/models" in message
    assert "--forcerun results/models/nca/state/epoch_0.pt results/models/flow/state/epoch_0.pt" in message


def test_an_external_model_is_a_run_without_training(tmp_path):
    """models.<run>: {family: external, images: ...} is a run whose synthetic volumes come from
    files: every rule after synthesis, no training; refused by name where a volume is missing."""
    template = str(tmp_path / "{case}_0001.nii.gz")
    cfg = deep_update(default_config(), {"models": {"ext": {"family": "external", "images": template}}})
    cases = plan_of(default_config()).synth_cases
    with pytest.raises(ConfigError, match=rf"models.ext.images: no volume for any of the {len(cases)} cases"):
        plan_of(cfg)
    # a volume missing for one test case (a challenge entry may lack some): planned without it,
    # named in the summary, its export without a prediction, its segmentation an empty one
    missing = [c for c in plan_of(default_config()).ranking_cases() if c in plan_of(default_config()).seg_test][0]
    for case in cases:
        if case != missing:
            (tmp_path / f"{case}_0001.nii.gz").touch()
    plan = plan_of(cfg)
    assert plan.missing_cases("ext") == [missing] and missing not in plan.run_cases("ext")
    assert not [t for t in plan.run_targets("ext") if f"/{missing}/" in t]
    assert "prediction" not in plan.mama_synth_cases(run="ext")[missing]
    assert missing not in plan.figure_files("ext") and plan.figure_files("ext")  # never an empty figure
    seg = plan.ranking_segmentation()["runs"]
    assert missing not in seg["ext"] and missing in seg[plan.run]
    assert f"no volume for 1 of {len(cases)} cases ({missing})" in plan.summary()
    for case in plan.ranking_cases():  # none of the ranked cases: nothing to rank it on
        (tmp_path / f"{case}_0001.nii.gz").unlink(missing_ok=True)
    with pytest.raises(ConfigError, match="models.ext.images: no volume for any of the .* test cases the model ranking scores"):
        plan_of(cfg)
    for case in cases:
        (tmp_path / f"{case}_0001.nii.gz").touch()
    plan = plan_of(cfg)
    run = plan.run_of("ext")
    assert run.family == "external" and not run.trains and run.generator == "results/models/ext/external.json"
    targets = plan.run_targets("ext")
    assert not [t for t in targets if "/models/ext/" in t]  # no state, generator or training log
    assert path("synthetic", run="ext", case=cases[0], seq="post1") in targets and path("mama_synth", run="ext") in targets
    assert plan.external_synthesis("ext", cases[0]) == {"images": {"post1": template.format(case=cases[0])},
                                                        "intensity": "scanner"}  # fmt: skip
    assert plan.external_synthesis(plan.run, cases[0]) is None
    assert f"ext (external: {template})" in plan.summary()
    # DICOM series and a viewer: the main run's, and those of export.runs
    assert not [t for t in targets if t.startswith(("results/dicom/", "results/viewer/"))]
    shown = plan_of(deep_update(cfg, {"export": {"runs": ["ext"]}}))
    assert path("viewer", run="ext") in shown.run_targets("ext") and not shown.selected_by_same_of("ext")
    assert path("dicom_series", run="ext", case=cases[0], seq="post1") in shown.run_targets("ext")
    with pytest.raises(ConfigError, match=r"export.runs: no run named 'exd' \(the runs: "):
        plan_of(deep_update(cfg, {"export": {"runs": ["exd"]}}))
    for spec, message in (({"images": "/data/x.nii.gz"}, "a path with {case}"),
                          ({"images": template, "niter": 3}, "models.ext.niter: a model of the external family trains nowhere"),
                          ({"images": {"post2": template}}, "one per target .post1")):  # fmt: skip
        with pytest.raises(ConfigError, match=message):
            plan_of(deep_update(default_config(), {"models": {"ext": {"family": "external", **spec}}}))
    with pytest.raises(ConfigError, match="models.u.images: only a model of the external family"):
        plan_of(deep_update(default_config(), {"models": {"u": {"family": "unet", "images": template}}}))


def test_a_mama_mia_phase_or_mask_stored_twice_is_refused_naming_both(tmp_path):
    """`_0001.nii` beside `_0001.nii.gz` (or a mask twice): which one is meant depends on nothing but
    the directory's order, so the cohort is refused at parse time naming both files."""
    import shutil

    from dcesynth.errors import ConfigError
    from dcesynth.sources.mama_mia import mama_mia_cases

    cases = write_mama_mia(tmp_path / "mm", [1, 1])
    case = next(iter(cases))
    cfg = {"data": {"root": str(tmp_path / "mm"), "post_phases": 1, "cases": None}}
    assert len(mama_mia_cases(cfg)) == 2
    folder = tmp_path / "mm" / "images" / case
    shutil.copy(folder / f"{case.lower()}_0001.nii.gz", folder / f"{case.lower()}_0001.nii")
    with pytest.raises(ConfigError, match=rf"data.root: case {case} has two files for phase 1: {case.lower()}_0001.nii "
                       rf"and {case.lower()}_0001.nii.gz; keep one"):  # fmt: skip
        mama_mia_cases(cfg)
    (folder / f"{case.lower()}_0001.nii").unlink()
    expert = tmp_path / "mm" / "segmentations" / "expert"
    shutil.copy(expert / f"{case.lower()}.nii.gz", expert / f"{case.upper()}.NII")
    with pytest.raises(ConfigError, match=rf"data.root: case {case} has two expert masks: "):
        mama_mia_cases(cfg)


def test_one_patient_under_two_ids_is_refused_before_the_split(tmp_path):
    """Two cases of a case sheet that read the same file (here one through a link, as a copied
    sheet row would) are refused at parse time, naming both: the split could put one in GAN training
    and the other in its evaluation."""
    cases = write_mama_mia(tmp_path / "mm", [1, 1, 1, 1, 1, 1])
    rows = ["case_id\tpre\tpost1\tmask"]
    for case in cases:
        img = tmp_path / "mm" / "images" / case
        rows.append(f"{case}\t{img / (case.lower() + '_0000.nii.gz')}\t{img / (case.lower() + '_0001.nii.gz')}\t"
                    f"{tmp_path / 'mm' / 'segmentations' / 'expert' / (case.lower() + '.nii.gz')}")
    first = next(iter(cases))
    (tmp_path / "same_pre.nii.gz").symlink_to(tmp_path / "mm" / "images" / first / f"{first.lower()}_0000.nii.gz")
    rows.append(f"COPY_001\t{tmp_path / 'same_pre.nii.gz'}\t{tmp_path / 'mm' / 'images' / first / (first.lower() + '_0001.nii.gz')}\t")
    sheet = tmp_path / "cases.tsv"
    sheet.write_text("\n".join(rows[:-1]) + "\n")
    cfg = tiny_config(data={"source": "nifti", "cases": str(sheet), "mask_pattern": None, "post_phases": 1},
                      splits={"allow_empty": True})  # fmt: skip
    assert "read the same file" not in parse_refusal_text(cfg)
    sheet.write_text("\n".join(rows) + "\n")
    assert (f"cases {first} and COPY_001 read the same file {tmp_path / 'same_pre.nii.gz'} (one patient under two "
            "ids?)") in parse_refusal_text(cfg)  # fmt: skip


def parse_refusal_text(cfg: dict) -> str:
    """The parse-time refusal of ``cfg``, or "" where it is accepted."""
    try:
        return parse_refusal(cfg)
    except AssertionError:
        return ""
