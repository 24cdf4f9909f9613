"""The networks behind the distribution metrics and LPIPS, from local weights or seeded untrained.

FID_ImageNet: TF-GAN's Inception (:mod:`dcesynth.tf_inception`) or torchvision's Inception v3;
FID_RadImageNet: Keras InceptionV3 rebuilt in torch (:mod:`dcesynth.radimagenet`); LPIPS with an
AlexNet or VGG16 backbone. ``mode: random`` runs a seeded untrained network and every output row
says so (its ``provenance``); ``off`` skips the metric. FRD (:mod:`dcesynth.frd`) needs no weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from .. import metrics as M
from ..errors import ConfigError
from .feature_cache import Features
from ..frd import RadiomicsFeatures, frd
from ..weights import is_pretrained, load_state_dict, sha256
from ..weights import provenance as weights_provenance


def _provenance(weights: str) -> str:
    return weights_provenance(weights, sha256(weights))


# The FID networks' input: "none" feeds each slice as it is (its volume's 0..255 scale), resized
# by torch on the device; "per_image" is the authors' fid.py --normalize_images: each slice resized
# to 299 by cv2 (INTER_LINEAR, on uint8), then min-max normalised to 0..255 by cv2 (uint8).
FID_NORMALIZE = ("none", "per_image")
_FID_NORMALIZE_PROVENANCE = {"none": "; input on its volume's 0-255 scale",
                             "per_image": "; input per-image min-max after a 299 px cv2 resize (the authors')"}


def fid_input(slices: np.ndarray) -> np.ndarray:
    """The 299 px uint8 slices the authors' FID read (``fid_normalize: per_image``)."""
    import cv2

    out = np.empty((len(slices), 299, 299), np.uint8)
    for i, img in enumerate(np.asarray(slices)):
        img = cv2.resize(np.ascontiguousarray(img, dtype=np.uint8), (299, 299), interpolation=cv2.INTER_LINEAR)
        out[i] = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX)
    return out


def _check_normalize(normalize: str, key: str) -> str:
    if normalize not in FID_NORMALIZE:
        raise ConfigError(f"{key}: FID input normalisation must be one of {', '.join(FID_NORMALIZE)}, not {normalize!r}")
    return normalize


def _pool_features(net, slices: np.ndarray, batch_size: int, dev, scale, normalize: str = "none") -> np.ndarray:
    """(N, 2048) features of grey uint8 slices: each batch at 299 px (:data:`FID_NORMALIZE`), in
    [0, 1], repeated to 3 channels, then ``scale``d to the network's input range."""
    from tqdm import tqdm

    out = []
    for s in tqdm(range(0, len(slices), batch_size), desc="features", ascii=True, mininterval=5, disable=len(slices) < 256):
        batch = slices[s : s + batch_size]
        if normalize == "per_image":
            x = torch.from_numpy(fid_input(batch).astype(np.float32)).to(dev)[:, None] / 255.0
        else:
            x = torch.from_numpy(np.asarray(batch, dtype=np.float32)).to(dev)[:, None] / 255.0
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        out.append(net(scale(x.expand(-1, 3, -1, -1))).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 2048))


FID_IMAGENET_NETWORKS = ("tf_inception", "torchvision")

# The FID networks' weights in channels-last layout: their convolutions and pooling then run 1.7x
# faster on the CPU (oneDNN), the same features to float rounding (~5e-7 relative).
CHANNELS_LAST = torch.channels_last


class InceptionFeatures(torch.nn.Module):
    """2048-d pool features of an ImageNet Inception v3 for grey slices (FID_ImageNet).

    ``network='tf_inception'``: the 2015-12-05 TensorFlow graph that TF-GAN (the authors' FID) and
    pytorch-fid use (:mod:`dcesynth.tf_inception`; weights ``pt_inception-2015-12-05-6726825d.pth``),
    fed [-1, 1]. ``network='torchvision'``: torchvision's ``inception_v3`` as its pretrained builder
    makes it (``transform_input=True``; weights ``inception_v3_google-0cc3c7bd.pth``), fed
    ImageNet-normalised input that the network maps back to the [-1, 1] its weights were trained on.

    Weights: a local state dict (``mode='pretrained'``), or a seeded untrained network
    (``mode='random'``, an explicit choice recorded in its ``provenance``).
    """

    def __init__(self, mode: str, weights: str | None, key: str, seed: int = 0, network: str = "tf_inception",
                 normalize: str = "none"):  # fmt: skip
        super().__init__()
        self.normalize = _check_normalize(normalize, "metrics.fid_normalize")
        if network not in FID_IMAGENET_NETWORKS:
            raise ConfigError(f"{key}.network must be one of {', '.join(FID_IMAGENET_NETWORKS)}, not {network!r}")
        # Built without initialising it (1.7 s of every scoring job): its weights are loaded from the
        # file, or drawn below. The classifier (fc, AuxLogits) is dropped, so it is never initialised.
        with torch.device("meta"):
            if network == "torchvision":
                from torchvision.models import inception_v3

                net = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=True)
            else:
                from ..tf_inception import build

                net = build()
        needs = ("FID needs pt_inception-2015-12-05-6726825d.pth (pytorch-fid's TF Inception)" if network == "tf_inception"
                 else "FID needs torchvision's inception_v3_google-0cc3c7bd.pth")  # fmt: skip
        if is_pretrained(mode, weights, key, needs):
            state = load_state_dict(weights, f"{key}.weights")
            state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}  # as copying did
            try:
                net.load_state_dict(state, assign=True)
            except RuntimeError:
                other = "torchvision" if network == "tf_inception" else "tf_inception"
                raise ConfigError(f"{key}.weights: {Path(weights).name} does not fit the {network} Inception "
                                  f"(is it the {other} one? then set {key}.network: {other})") from None  # fmt: skip
            self.provenance = f"{network} {_provenance(weights)}"
        else:
            # He-initialised convolutions keep activations O(1) through the 90+ layers (torchvision's
            # own init is meant for training with batch statistics and explodes in eval mode); batch
            # norms at their defaults (weight 1, bias 0, mean 0, variance 1).
            net.to_empty(device="cpu")
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                for m in net.modules():
                    if isinstance(m, torch.nn.Conv2d):
                        torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                    elif isinstance(m, torch.nn.BatchNorm2d):
                        m.reset_parameters()
            self.provenance = f"UNTRAINED (seeded random {network} Inception v3, seed {seed})"
        self.provenance += _FID_NORMALIZE_PROVENANCE[normalize]
        net.fc = torch.nn.Identity()
        net.aux_logits, net.AuxLogits = False, None
        self.net = net.eval().to(memory_format=CHANNELS_LAST)
        self.network = network
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] RGB to the input the network's builder expects."""
        return x * 2.0 - 1.0 if self.network == "tf_inception" else (x - self.mean) / self.std

    @torch.inference_mode()
    def forward(self, slices: np.ndarray, batch_size: int = 32) -> np.ndarray:
        return _pool_features(self.net, slices, batch_size, self.mean.device, self.scale, self.normalize)


class RadImageNetFeatures(torch.nn.Module):
    """2048-d features of Keras' InceptionV3 (``include_top=False, pooling="avg"``) with RadImageNet
    weights, rebuilt in torch (:mod:`dcesynth.radimagenet`): slices resized to 299 px, scaled to
    [-1, 1], grey repeated to 3 channels, as the authors' FID_RadImageNet.

    Weights: the published Keras ``.h5`` (converted on load) or our converted ``.pt``
    (``mode='pretrained'``), or a seeded untrained network (``mode='random'``, recorded in its ``provenance``).
    """

    def __init__(self, mode: str, weights: str | None, key: str, seed: int = 0, normalize: str = "none"):
        super().__init__()
        from ..radimagenet import KerasInceptionV3, load_weights

        self.normalize = _check_normalize(normalize, "metrics.fid_normalize")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = KerasInceptionV3()
            for m in net.modules():
                if isinstance(m, torch.nn.Conv2d):
                    torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        needs = "FID_RadImageNet needs RadImageNet-InceptionV3_notop.h5 (or its converted .pt)"
        if is_pretrained(mode, weights, key, needs):
            net.load_state_dict(load_weights(weights, key))
            self.provenance = _provenance(weights)
        else:
            self.provenance = f"UNTRAINED (seeded random Keras InceptionV3, seed {seed})"
        self.provenance += _FID_NORMALIZE_PROVENANCE[normalize]
        self.net = net.eval().to(memory_format=CHANNELS_LAST)
        self.register_buffer("_device", torch.zeros(0))

    @torch.inference_mode()
    def forward(self, slices: np.ndarray, batch_size: int = 32) -> np.ndarray:
        return _pool_features(self.net, slices, batch_size, self._device.device, lambda x: x * 2.0 - 1.0, self.normalize)


class LPIPSNet(torch.nn.Module):
    """LPIPS from the ``lpips`` package: its shipped linear layers on a backbone from a local file.

    The package would download the torchvision backbone; here the backbone is built untrained and
    then loaded from ``weights`` (a torchvision ``alexnet`` / ``vgg16`` state dict, its
    ``features.<i>`` entries mapped onto LPIPS' slices), or kept as a seeded untrained network
    (``mode='random'``, recorded in its ``provenance``).
    """

    def __init__(self, mode: str, net: str, weights: str | None, key: str, seed: int = 0):
        super().__init__()
        import warnings

        import lpips

        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lpips passes torchvision's deprecated pretrained=False
            torch.manual_seed(seed)
            model = lpips.LPIPS(net=net, pnet_rand=True, verbose=False)
        if is_pretrained(mode, weights, key, f"LPIPS needs a local torchvision {net} state dict"):
            state = load_state_dict(weights, f"{key}.weights")
            model.net.load_state_dict(backbone_state(model.net.state_dict(), state, weights))
            self.provenance = f"lpips-0.1 {net}, {_provenance(weights)}"
        else:
            self.provenance = f"lpips-0.1 {net}, UNTRAINED backbone (seeded, seed {seed})"
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

    @torch.inference_mode()
    def signed(self, a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
        """Per-pair LPIPS of (N, 1, H, W) tensors already in [-1, 1] (fed as they are, three equal channels)."""
        dev = next(self.model.parameters()).device
        a, b = (t.float().to(dev).expand(-1, 3, -1, -1) for t in (a, b))
        return self.model(a, b).flatten().cpu().numpy()

    @torch.inference_mode()
    def authors(self, synthetic: np.ndarray, real: np.ndarray, batch_size: int = 4, size: int = M.AUTHORS_SIZE) -> np.ndarray:
        """Per-pair LPIPS of what the authors' transform left of two uint8 stacks: binary masks of
        the top quarter of each image's grey range (:func:`dcesynth.metrics.authors_lpips_images`), fed to the
        network as they are (torchmetrics' ``normalize=False``), three equal channels."""
        dev = next(self.model.parameters()).device
        out = []
        for s in range(0, len(real), batch_size):
            a = torch.from_numpy(M.authors_lpips_images(synthetic[s : s + batch_size], size)).to(dev)[:, None].expand(-1, 3, -1, -1)
            b = torch.from_numpy(M.authors_lpips_images(real[s : s + batch_size], size)).to(dev)[:, None].expand(-1, 3, -1, -1)
            out.append(self.model(a, b).flatten().cpu().numpy())
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


def distribution_extractors(cfg: dict[str, Any], device: str = "cpu", cache: str | Path | None = None) -> dict[str, Features]:
    """The distribution metrics the metrics config turns on, by metric name: the FID networks
    (on ``device``) and FRD's radiomic features, each slice's features computed once (real slices'
    kept under ``cache``, :mod:`.feature_cache`)."""
    out: dict[str, Any] = {}
    for name, cls in FID_NETWORKS.items():
        c = cfg.get(name)
        if c and c["mode"] != "off":
            extra = {"network": c["network"]} if "network" in c else {}
            extra["normalize"] = cfg.get("fid_normalize", "none")
            out[name] = cls(c["mode"], c.get("weights"), f"metrics.{name}", seed=int(c.get("seed", 0)), **extra).to(device)
    if cfg.get("frd", {}).get("enabled"):
        out["frd"] = RadiomicsFeatures()
    return {name: Features(e, name, cache, device) for name, e in out.items()}


def distribution_distance(extractor, real: np.ndarray, fake: np.ndarray, fake_is_real: bool = False) -> float:
    """FID of a network's features, or FRD of the radiomic features. With a :class:`Features` that
    has a cache, the real slices' features come from it (and ``fake``'s too where it holds real
    slices, ``fake_is_real``: the pre-contrast baseline, the split test's other half)."""
    cached = isinstance(extractor, Features)
    a = extractor.real(real) if cached else extractor(real)
    b = extractor.real(fake) if cached and fake_is_real else extractor(fake)
    if isinstance(getattr(extractor, "extractor", extractor), RadiomicsFeatures):
        try:
            return frd(a, b)
        except ValueError as e:  # e.g. identical real slices: the table says NaN, the log why
            from ..logs import log

            log.warning("FRD: %s (NaN)", e)
            return float("nan")
    return M.frechet_distance_of_features(a, b)

