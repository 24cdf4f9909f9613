"""Evaluation of synthetic slices: per-epoch metrics, SAMe epoch selection, the paper's Table 1.

Feature extractors (FID_ImageNet: TF-GAN's Inception, :mod:`dcesynth.tf_inception`, or torchvision's
Inception v3; FID_RadImageNet: Keras InceptionV3 rebuilt in torch, :mod:`dcesynth.radimagenet`) load weights from local files named in config; ``mode: random`` runs a
seeded untrained network and every output row says so (``source`` column), ``off`` skips FID.
FRD (Fréchet Radiomics Distance, :mod:`dcesynth.frd`) needs no weights; ``metrics.frd.enabled``.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from . import metrics as M
from .errors import ConfigError
from .frd import RadiomicsFeatures
from .gan.losses import sha256
from .devices import resolve_device
from .gan.train import load_generator
from .io import atomic_path, write_json, write_table
from .synthesis import synthetic_stacks
from .weights import load_state_dict
from .weights import provenance as weights_provenance

log = logging.getLogger("dcesynth")

TABLE_COLUMNS = ["metric", "mean", "sd", "n", "source"]


def _pretrained(mode: str, weights: str | None, key: str, needs: str) -> bool:
    """Whether a network loads weights (``mode: pretrained``) or stays a seeded untrained one
    (``random``); a pretrained network without a weights file, or another mode, is a config error."""
    if mode not in ("pretrained", "random"):
        raise ConfigError(f"{key}.mode must be pretrained, random or off, not {mode!r}")
    if mode == "pretrained" and not weights:
        raise ConfigError(f"{key}.weights: {needs}; set it, or {key}.mode: random|off")
    return mode == "pretrained"


def _provenance(weights: str) -> str:
    return weights_provenance(weights, sha256(weights))


def _pool_features(net, slices: np.ndarray, batch_size: int, dev, scale) -> np.ndarray:
    """(N, 2048) features of grey uint8 slices: each batch resized to 299 px, in [0, 1], repeated to
    3 channels, then ``scale``d to the network's input range."""
    from tqdm import tqdm

    out = []
    for s in tqdm(range(0, len(slices), batch_size), desc="features", ascii=True, mininterval=5, disable=len(slices) < 256):
        x = torch.from_numpy(np.asarray(slices[s : s + batch_size], dtype=np.float32)).to(dev)[:, None] / 255.0
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False).expand(-1, 3, -1, -1)
        out.append(net(scale(x)).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 2048))


FID_IMAGENET_NETWORKS = ("tf_inception", "torchvision")


class InceptionFeatures(torch.nn.Module):
    """2048-d pool features of an ImageNet Inception v3 for grey slices (FID_ImageNet).

    ``network='tf_inception'``: the 2015-12-05 TensorFlow graph that TF-GAN (the authors' FID) and
    pytorch-fid use (:mod:`dcesynth.tf_inception`; weights ``pt_inception-2015-12-05-6726825d.pth``),
    fed [-1, 1]. ``network='torchvision'``: torchvision's ``inception_v3`` as its pretrained builder
    makes it (``transform_input=True``; weights ``inception_v3_google-0cc3c7bd.pth``), fed
    ImageNet-normalised input that the network maps back to the [-1, 1] its weights were trained on.

    Weights: a local state dict (``mode='pretrained'``), or a seeded untrained network
    (``mode='random'``, an explicit choice recorded in ``source``).
    """

    def __init__(self, mode: str, weights: str | None, key: str, seed: int = 0, network: str = "tf_inception"):
        super().__init__()
        if network not in FID_IMAGENET_NETWORKS:
            raise ConfigError(f"{key}.network must be one of {', '.join(FID_IMAGENET_NETWORKS)}, not {network!r}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if network == "torchvision":
                from torchvision.models import inception_v3

                net = inception_v3(weights=None, aux_logits=True, init_weights=True, transform_input=True)
            else:
                from .tf_inception import build

                net = build()
        needs = ("FID needs pt_inception-2015-12-05-6726825d.pth (pytorch-fid's TF Inception)" if network == "tf_inception"
                 else "FID needs torchvision's inception_v3_google-0cc3c7bd.pth")  # fmt: skip
        if _pretrained(mode, weights, key, needs):
            try:
                net.load_state_dict(load_state_dict(weights, f"{key}.weights"))
            except RuntimeError:
                other = "torchvision" if network == "tf_inception" else "tf_inception"
                raise ConfigError(f"{key}.weights: {Path(weights).name} does not fit the {network} Inception "
                                  f"(is it the {other} one? then set {key}.network: {other})") from None  # fmt: skip
            self.source = f"{network} {_provenance(weights)}"
        else:
            # He-initialised convolutions keep activations O(1) through the 90+ layers (torchvision's
            # own init is meant for training with batch statistics and explodes in eval mode).
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                for m in net.modules():
                    if isinstance(m, torch.nn.Conv2d):
                        torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            self.source = f"UNTRAINED (seeded random {network} Inception v3, seed {seed})"
        net.fc = torch.nn.Identity()
        net.aux_logits, net.AuxLogits = False, None
        self.net = net.eval()
        self.network = network
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] RGB to the input the network's builder expects."""
        return x * 2.0 - 1.0 if self.network == "tf_inception" else (x - self.mean) / self.std

    @torch.inference_mode()
    def forward(self, slices: np.ndarray, batch_size: int = 32) -> np.ndarray:
        return _pool_features(self.net, slices, batch_size, self.mean.device, self.scale)


class RadImageNetFeatures(torch.nn.Module):
    """2048-d features of Keras' InceptionV3 (``include_top=False, pooling="avg"``) with RadImageNet
    weights, rebuilt in torch (:mod:`dcesynth.radimagenet`): slices resized to 299 px, scaled to
    [-1, 1], grey repeated to 3 channels, as the authors' FID_RadImageNet.

    Weights: the published Keras ``.h5`` (converted on load) or our converted ``.pt``
    (``mode='pretrained'``), or a seeded untrained network (``mode='random'``, recorded in ``source``).
    """

    def __init__(self, mode: str, weights: str | None, key: str, seed: int = 0):
        super().__init__()
        from .radimagenet import KerasInceptionV3, load_weights

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = KerasInceptionV3()
            for m in net.modules():
                if isinstance(m, torch.nn.Conv2d):
                    torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        needs = "FID_RadImageNet needs RadImageNet-InceptionV3_notop.h5 (or its converted .pt)"
        if _pretrained(mode, weights, key, needs):
            net.load_state_dict(load_weights(weights, key))
            self.source = _provenance(weights)
        else:
            self.source = f"UNTRAINED (seeded random Keras InceptionV3, seed {seed})"
        self.net = net.eval()
        self.register_buffer("_device", torch.zeros(0))

    @torch.inference_mode()
    def forward(self, slices: np.ndarray, batch_size: int = 32) -> np.ndarray:
        return _pool_features(self.net, slices, batch_size, self._device.device, lambda x: x * 2.0 - 1.0)


class LPIPSNet(torch.nn.Module):
    """LPIPS from the ``lpips`` package: its shipped linear layers on a backbone from a local file.

    The package would download the torchvision backbone; here the backbone is built untrained and
    then loaded from ``weights`` (a torchvision ``alexnet`` / ``vgg16`` state dict, its
    ``features.<i>`` entries mapped onto LPIPS' slices), or kept as a seeded untrained network
    (``mode='random'``, recorded in ``source``).
    """

    def __init__(self, mode: str, net: str, weights: str | None, key: str, seed: int = 0):
        super().__init__()
        import warnings

        import lpips

        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lpips passes torchvision's deprecated pretrained=False
            torch.manual_seed(seed)
            model = lpips.LPIPS(net=net, pnet_rand=True, verbose=False)
        if _pretrained(mode, weights, key, f"LPIPS needs a local torchvision {net} state dict"):
            state = load_state_dict(weights, f"{key}.weights")
            model.net.load_state_dict(backbone_state(model.net.state_dict(), state, weights))
            self.source = f"lpips-0.1 {net}, {_provenance(weights)}"
        else:
            self.source = f"lpips-0.1 {net}, UNTRAINED backbone (seeded, seed {seed})"
        self.model = model.eval()

    @torch.inference_mode()
    def forward(self, real: np.ndarray, fake: np.ndarray, batch_size: int = 32, normalize: bool = True) -> np.ndarray:
        """Per-pair LPIPS of two uint8 stacks (N, H, W) on the 0–255 scale."""
        dev = next(self.model.parameters()).device
        out = []
        for s in range(0, len(real), batch_size):
            a = torch.from_numpy(np.asarray(real[s : s + batch_size], dtype=np.float32)).to(dev)[:, None]
            b = torch.from_numpy(np.asarray(fake[s : s + batch_size], dtype=np.float32)).to(dev)[:, None]
            if normalize:
                a, b = M.minmax_per_image(a), M.minmax_per_image(b)
            out.append(M.lpips(self.model, a, b).cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0)


def backbone_state(target: dict, torchvision_state: dict, name: str = "weights") -> dict:
    """Map a torchvision ``features.<i>.<param>`` state dict onto LPIPS' ``slice<k>.<i>.<param>`` keys."""
    out, missing = {}, []
    for k in target:
        src = "features." + k.split(".", 1)[1]
        if src in torchvision_state and torchvision_state[src].shape == target[k].shape:
            out[k] = torchvision_state[src]
        else:
            missing.append(src)
    if missing:
        raise ConfigError(f"{name}: not a torchvision backbone for this LPIPS net (missing or misshaped: {', '.join(missing[:4])})")
    return out


def lpips_network(cfg: dict[str, Any] | None, key: str = "metrics.lpips") -> LPIPSNet | None:
    if not cfg or cfg["mode"] == "off":
        return None
    return LPIPSNet(cfg["mode"], cfg["net"], cfg.get("weights"), key, seed=int(cfg.get("seed", 0)))


FID_NETWORKS = {"fid_imagenet": InceptionFeatures, "fid_radimagenet": RadImageNetFeatures}


def distribution_extractors(cfg: dict[str, Any], device: str = "cpu") -> dict[str, Any]:
    """The distribution metrics the metrics config turns on, by metric name: the FID networks
    (on ``device``) and FRD's radiomic features."""
    out: dict[str, Any] = {}
    for name, cls in FID_NETWORKS.items():
        c = cfg.get(name)
        if c and c["mode"] != "off":
            extra = {"network": c["network"]} if "network" in c else {}
            out[name] = cls(c["mode"], c.get("weights"), f"metrics.{name}", seed=int(c.get("seed", 0)), **extra).to(device)
    if cfg.get("frd", {}).get("enabled"):
        out["frd"] = RadiomicsFeatures()
    return out


def sample_slices(files: dict[str, dict[str, str]], seq: str, n: int | None, seed: int) -> list[tuple[str, int]]:
    """A fixed, seeded sample of (case, slice) over the given cases (all when n is None or larger),
    in seeded random order: any prefix of it (the FID pairs within the pixel-metric pairs) is a
    random sample of every case too, not the first cases in sorted order."""
    index = []
    for case in sorted(files):
        k = np.load(files[case][seq], mmap_mode="r").shape[0]
        index += [(case, i) for i in range(k)]
    order = np.random.default_rng(seed).permutation(len(index))
    return [index[i] for i in order[:n]]


def gather(files: dict[str, dict[str, str]], seq: str, sample: list[tuple[str, int]]) -> np.ndarray:
    arrays = {c: np.load(files[c][seq], mmap_mode="r") for c in {c for c, _ in sample}}
    return np.stack([arrays[c][i] for c, i in sample]) if sample else np.zeros((0, 1, 1), np.uint8)


def _mean_sd(v: np.ndarray) -> tuple[float, float]:
    with np.errstate(invalid="ignore"):  # PSNR of identical images is inf; its sd is then nan
        return float(np.mean(v)), float(np.std(v))


def _rows(values: dict[str, np.ndarray], source: str = "analytic") -> list[dict]:
    return [{"metric": k, "mean": _mean_sd(v)[0], "sd": _mean_sd(v)[1], "n": int(len(v)), "source": source}
            for k, v in values.items()]  # fmt: skip


def distribution_distance(extractor, real: np.ndarray, fake: np.ndarray) -> float:
    """FID of a network's features, or the extractor's own distance (FRD)."""
    if hasattr(extractor, "distance"):
        return extractor.distance(real, fake)
    mu1, s1 = M.feature_statistics(extractor(real))
    mu2, s2 = M.feature_statistics(extractor(fake))
    return M.frechet_distance(mu1, s1, mu2, s2)


def evaluate_generator(
    generator_path: str | Path,
    files: dict[str, dict[str, str]],
    source: str,
    target: str,
    cfg: dict[str, Any],
    out_table: str | Path,
    device: str = "auto",
    threads: int = 1,
    n_targets: int = 1,
) -> pd.DataFrame:
    """Metrics of one generator on a seeded sample of validation pairs (``metrics`` config).

    ``target`` is the first of the model's ``n_targets`` phases (a multi-phase model is scored
    on its first output channel)."""
    torch.set_num_threads(max(1, int(threads)))
    dev = resolve_device(device)
    G = load_generator(generator_path, device=dev)
    n_pix, n_fid = cfg["n_pixel_pairs"], cfg["n_fid_pairs"]
    sample = sample_slices(files, source, _largest(n_pix, n_fid), int(cfg["seed"]))
    pre = gather(files, source, sample)
    real = gather(files, target, sample)
    fake = synthetic_stacks(G, pre, n_targets, int(cfg["batch_size"]), progress=True)[0]
    rows = _rows(M.pixel_metrics(real[:n_pix], fake[:n_pix], int(cfg["batch_size"]), cfg["normalize_per_image"]))
    for name, extractor in distribution_extractors(cfg, dev).items():
        value = distribution_distance(extractor, real[:n_fid], fake[:n_fid])
        rows.append({"metric": name, "mean": value, "sd": float("nan"), "n": min(len(real), n_fid or len(real)),
                     "source": extractor.source})  # fmt: skip
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    write_table(table, out_table)
    return table


# SAMe as the paper defines it, on the paper's own MAE/MSE columns (uint8 wrap-around).
PAPER_SAME_METRICS = ["ssim", "mse_authors", "mae_authors", "fid_imagenet", "fid_radimagenet"]


def epoch_table(paths: dict[int, str | Path], cohort: str = "") -> pd.DataFrame:
    """One row per evaluated epoch: one column per metric mean, then the feature network behind
    each distribution metric (``<metric>_source``, from the per-epoch tables) and the cohort."""
    rows = []
    for epoch, p in sorted(paths.items()):
        t = pd.read_csv(p, sep="\t", keep_default_na=False, na_values=[""])
        row: dict[str, Any] = {"epoch": int(epoch), **dict(zip(t["metric"], t["mean"].astype(float)))}
        networks = t[t["source"] != "analytic"]
        row |= {f"{m}_source": src for m, src in zip(networks["metric"], networks["source"])}
        rows.append(row)
    table = pd.DataFrame(rows)
    sources = [c for c in table.columns if c.endswith("_source")]
    table = table[[c for c in table.columns if c not in sources] + sources]
    table["cohort"] = cohort
    return table


def score_epochs(epoch_tables: dict[int, str | Path], same_metrics: list[str], cohort: str = "") -> pd.DataFrame:
    """The epoch table with SAMe, its rank variant and ``same_paper`` (SAMe over the paper's five
    metrics with the authors' MAE/MSE, :data:`PAPER_SAME_METRICS`, when all were computed)."""
    table = epoch_table(epoch_tables, cohort)
    missing = [m for m in same_metrics if m not in table.columns]
    if missing:
        raise ConfigError(f"metrics.same_metrics: {missing} were not computed (is the feature extractor off?)")
    hib = M.HIGHER_IS_BETTER & set(same_metrics)
    scores = {"same": M.same(table, same_metrics, hib), "same_rank": M.same_rank(table, same_metrics, hib)}
    if all(m in table.columns for m in PAPER_SAME_METRICS):
        scores["same_paper"] = M.same(table, PAPER_SAME_METRICS, M.HIGHER_IS_BETTER & set(PAPER_SAME_METRICS))
    at = table.columns.get_loc("epoch") + 1
    for i, (name, values) in enumerate(scores.items()):
        table.insert(at + i, name, values.to_numpy())
    return table


def _best(table: pd.DataFrame, score: str) -> int:
    return int(table.loc[table[score].idxmin(), "epoch"])


def select_best_epoch(
    epoch_tables: dict[int, str | Path],
    generators: dict[int, str | Path],
    same_metrics: list[str],
    criterion: str,
    out_best: str | Path,
    out_generator: str | Path,
) -> int:
    """The epoch with the lowest SAMe (``criterion``) over the evaluated epochs; its generator is
    copied. ``best_epoch.json`` also says which epoch each SAMe variant would have chosen."""
    table = score_epochs(epoch_tables, same_metrics)
    best = _best(table, criterion)
    scores = [c for c in ("same", "same_rank", "same_paper") if c in table]
    write_json(
        {"epoch": best, "criterion": criterion, "metrics": same_metrics,
         "same": float(table.loc[table["epoch"] == best, "same"].iloc[0]),
         "same_rank": float(table.loc[table["epoch"] == best, "same_rank"].iloc[0]),
         "epoch_by": {c: _best(table, c) for c in scores},
         "paper_same_metrics": PAPER_SAME_METRICS if "same_paper" in table else None},
        out_best,
    )  # fmt: skip
    with atomic_path(out_generator) as tmp:
        shutil.copyfile(generators[best], tmp)
    return best


def tabulate_epochs(
    epoch_tables: dict[int, str | Path],
    same_metrics: list[str],
    criterion: str,
    cohort: str,
    out_epochs: str | Path,
    out_figure: str | Path,
) -> pd.DataFrame:
    """``epochs.tsv`` (every metric, SAMe variants, network provenance, cohort) and Fig. 4.

    Apart from :func:`select_best_epoch` so that the cohort's name, which only labels the table,
    never touches the chosen generator and what was made from it."""
    table = score_epochs(epoch_tables, same_metrics, cohort)
    write_table(table, out_epochs)
    plot_epochs(table, same_metrics, _best(table, criterion), out_figure)
    return table


def plot_epochs(table: pd.DataFrame, same_metrics: list[str], best: int, out_png: str | Path) -> None:
    """The paper's Fig. 4: every metric and SAMe per epoch, the chosen epoch marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [c for c in table.columns if c != "epoch" and pd.api.types.is_numeric_dtype(table[c])]
    ncols = min(6, len(cols))
    nrows = -(-len(cols) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.5 * nrows), squeeze=False)
    for ax in axes.flat[len(cols) :]:
        ax.set_visible(False)
    for ax, c in zip(axes.flat, cols):
        ax.plot(table["epoch"], table[c], marker="o", ms=3, color="tab:red" if c.startswith("same") else "tab:blue")
        ax.axvline(best, color="grey", ls="--", lw=1)
        ax.set_title(c + (" (in SAMe)" if c in same_metrics else ""), fontsize=8)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"validation metrics per epoch; chosen epoch {best} (lowest SAMe)", fontsize=9)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)



# --------------------------------------------------------------------------------------------
# Table 1
# --------------------------------------------------------------------------------------------


def _pair_row(comparison, dataset, real, fake, cfg, extractors, pixel=True, lpips_net=None, n_fid=None) -> dict:
    """One Table 1 row: pixel metrics (and LPIPS) on the first ``n_pixel_pairs`` pairs (``n_pairs``),
    distribution metrics on the first ``n_fid`` (default ``n_fid_pairs``; ``<metric>_n``) of the
    (seeded, shuffled) sample."""
    n_pix = min(cfg["n_pixel_pairs"] or len(real), len(real))
    row: dict[str, Any] = {"comparison": comparison, "dataset": dataset, "n_pairs": int(n_pix if pixel else 0)}
    if pixel and len(real):
        vals = M.pixel_metrics(real[:n_pix], fake[:n_pix], int(cfg["batch_size"]), cfg["normalize_per_image"])
        for k, v in vals.items():
            row[k], row[f"{k}_sd"] = _mean_sd(v)
        if lpips_net is not None:
            values = lpips_net(real[:n_pix], fake[:n_pix], int(cfg["batch_size"]), cfg["normalize_per_image"])
            row["lpips"], row["lpips_sd"] = _mean_sd(values)
            row["lpips_source"] = lpips_net.source
    for name, extractor in extractors.items():
        if len(real) > 1:
            n = (n_fid if n_fid is not None else cfg["n_fid_pairs"]) or len(real)
            row[name] = distribution_distance(extractor, real[:n], fake[:n])
            row[f"{name}_n"] = min(n, len(real))
            row[f"{name}_source"] = extractor.source
    return row


def _largest(*counts: int | None) -> int | None:
    """The largest of some sample sizes, None (everything) if any is None."""
    return None if any(c is None for c in counts) else max(counts)


def quality_table(
    files: dict[str, dict[str, dict[str, str]]],
    synthetic: dict[str, str],
    source: str,
    target: str,
    label: str,
    cfg: dict[str, Any],
    device: str = "auto",
    provenance: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """The rows of the paper's Table 1 (and its PSNR/MS-SSIM extension) for each split in
    ``files`` ({split: {case: {seq: path}}}): real post vs synthetic post, real post vs real pre,
    real vs synthetic subtraction (slice-based, as the paper), and on the test split the
    'split test' rows (two disjoint halves of the patients; FID only). ``provenance`` (the cohort,
    the GAN epoch and its VGG weights) is written as columns of every row."""
    extractors = distribution_extractors(cfg, resolve_device(device))
    lpips_net = lpips_network(cfg.get("lpips"))
    if lpips_net is not None:
        lpips_net = lpips_net.to(resolve_device(device))
    rows = []
    for split, by_case in files.items():
        # the paper: 3000 FID pairs on validation, 2000 on test
        n_fid = cfg["n_fid_pairs_test"] if split == "test" else cfg["n_fid_pairs"]
        pair = dict(extractors=extractors, lpips_net=lpips_net, n_fid=n_fid)
        # only the sample's first max(pixel, FID) pairs are scored: gather no more (Duke: ~38k slices)
        sample = sample_slices(by_case, source, _largest(cfg["n_pixel_pairs"], n_fid), int(cfg["seed"]))
        pre, real = gather(by_case, source, sample), gather(by_case, target, sample)
        syn_files = {c: {"syn": synthetic[c]} for c in by_case}
        fake = gather(syn_files, "syn", sample)
        rows.append(_pair_row(f"real_post_vs_syn_post_{label}", split, real, fake, cfg, **pair))
        rows.append(_pair_row("real_post_vs_real_pre", split, real, pre, cfg, **pair))
        sub = lambda a: np.clip(a.astype(np.int16) - pre.astype(np.int16), 0, 255).astype(np.uint8)  # noqa: E731
        rows.append(_pair_row(f"real_subt_vs_syn_subt_{label}", split, sub(real), sub(fake), cfg, **pair))
        if split == "test" and len(by_case) >= 2:
            cases = sorted(by_case)
            order = np.random.default_rng(int(cfg["seed"])).permutation(len(cases))
            half_a = {cases[i]: by_case[cases[i]] for i in order[: len(cases) // 2]}
            half_b = {cases[i]: by_case[cases[i]] for i in order[len(cases) // 2 :]}
            sa = sample_slices(half_a, target, n_fid, int(cfg["seed"]))
            sb = sample_slices(half_b, target, n_fid, int(cfg["seed"]))
            real_a = gather(half_a, target, sa)
            fake_b = gather({c: {"syn": synthetic[c]} for c in half_b}, "syn", sb)
            real_b = gather(half_b, target, sb)
            n = min(len(real_a), len(real_b))
            rows.append(_pair_row(f"real_post_vs_syn_post_{label}", "split_test", real_a[:n], fake_b[:n], cfg, extractors,
                                  pixel=False, n_fid=n_fid))  # fmt: skip
            rows.append(_pair_row("real_post_vs_real_post", "split_test", real_a[:n], real_b[:n], cfg, extractors,
                                  pixel=False, n_fid=n_fid))  # fmt: skip
    return pd.DataFrame(rows).assign(**(provenance or {}))


TUMOUR_REGION_COLUMNS = ["case_id", "split", "region", "voxels", "mae_synthetic", "mae_pre", "mse_synthetic", "mse_pre",
                         "cohort"]  # fmt: skip


def tumour_region_table(
    cases: dict[str, dict[str, str]], source: str, target: str, margin_mm: float, split_of: dict[str, str],
    cohort: str = "",
) -> pd.DataFrame:
    """Per annotated case: MAE/MSE of synthetic and of pre-contrast against real post-contrast
    inside the tumour mask dilated by ``margin_mm`` and inside the mask's bounding box, on the
    0–255 model scale (volumes restored from the slice stacks)."""
    import SimpleITK as sitk
    from scipy import ndimage

    from .synthesis import read_transform, stack_to_volume

    rows = []
    for case, p in sorted(cases.items()):
        mask_img = sitk.ReadImage(p["mask"])
        t = read_transform(p["transform"])
        vol = {k: sitk.GetArrayFromImage(stack_to_volume(np.load(p[k]), t, mask_img)) for k in ("pre", "real", "synthetic")}
        mask = sitk.GetArrayFromImage(mask_img) > 0
        spacing = mask_img.GetSpacing()[::-1]
        dilated = ndimage.distance_transform_edt(~mask, sampling=spacing) <= margin_mm
        idx = np.argwhere(mask)
        box = np.zeros_like(mask)
        box[tuple(slice(a, b + 1) for a, b in zip(idx.min(0), idx.max(0)))] = True
        for region, sel in (("mask_dilated", dilated), ("bounding_box", box)):
            real = vol["real"][sel]
            rows.append({
                "case_id": case, "split": split_of.get(case, ""), "region": region, "voxels": int(sel.sum()),
                "mae_synthetic": float(np.abs(vol["synthetic"][sel] - real).mean()),
                "mae_pre": float(np.abs(vol["pre"][sel] - real).mean()),
                "mse_synthetic": float(((vol["synthetic"][sel] - real) ** 2).mean()),
                "mse_pre": float(((vol["pre"][sel] - real) ** 2).mean()),
                "cohort": cohort,
            })  # fmt: skip
    return pd.DataFrame(rows, columns=TUMOUR_REGION_COLUMNS)


def read_paper_table(path: str | Path) -> pd.DataFrame:
    """A published table shipped in resources/ (some rows carry extra trailing tabs; lines starting
    with ``#`` are notes)."""
    lines = [ln.rstrip("\n").split("\t") for ln in Path(path).read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]  # fmt: skip
    header = lines[0]
    rows = [(r + [""] * len(header))[: len(header)] for r in lines[1:]]
    df = pd.DataFrame(rows, columns=header).replace("", np.nan)
    for c in header[2:]:
        df[c] = pd.to_numeric(df[c])
    return df
