"""Keras InceptionV3 in torch, and a converter for the published RadImageNet Keras weights.

FID_RadImageNet (the paper's second FID) takes 2048-d features from Keras' ``InceptionV3(
include_top=False, pooling="avg")`` with the RadImageNet weights (``RadImageNet-InceptionV3_notop.h5``),
inputs resized to 299 px and scaled to [-1, 1]. TensorFlow is not a dependency here, so this module
rebuilds that network in torch, operation for operation as Keras defines it:

- every convolution has no bias and is followed by batch normalisation without scale (γ = 1),
  ε = 0.001, and ReLU; stride-1 convolutions pad "same" (symmetric for odd kernels);
- average pooling inside the blocks is 3×3, stride 1, "same" padding that does **not** count the
  padded zeros (``count_include_pad=False``) — torchvision's Inception3 counts them, so its
  features differ from Keras' at every block border; this is why we do not reuse it;
- the 94 convolutions are created in Keras' order; Keras numbers layers of a kind in creation
  order (``conv2d``, ``conv2d_1``, …), so the converter sorts the file's layers by that number,
  maps the i-th Keras conv/BN layer onto the i-th torch one and checks every shape.

    python -m dcesynth.radimagenet convert RadImageNet-InceptionV3_notop.h5 radimagenet_inceptionv3.pt

The tests build Keras' own InceptionV3 (Keras 3, torch backend, random weights), save it as
``.h5``, convert it and compare the features of both networks on the same images.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .errors import ConfigError

EPS = 1e-3


class ConvBN(nn.Module):
    """Keras ``conv2d_bn``: Conv2D(use_bias=False) → BatchNormalization(scale=False) → ReLU."""

    def __init__(self, cin: int, cout: int, kh: int, kw: int, stride: int = 1, same: bool = True):
        super().__init__()
        pad = (kh // 2, kw // 2) if same else (0, 0)
        self.conv = nn.Conv2d(cin, cout, (kh, kw), stride=stride, padding=pad, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=EPS)  # γ stays 1: Keras' BN here has no scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_same(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def _max_valid(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 3, stride=2)


class KerasInceptionV3(nn.Module):
    """``keras.applications.InceptionV3(include_top=False, pooling="avg")`` in torch.

    Input: (N, 3, H, W) already scaled to [-1, 1]; output: (N, 2048).
    ``self.convs`` lists the ConvBN blocks in Keras' creation order (used by the converter).
    """

    def __init__(self):
        super().__init__()
        self.convs: list[ConvBN] = []

        def cb(*args, **kw) -> ConvBN:
            m = ConvBN(*args, **kw)
            self.convs.append(m)
            return m

        self.stem = nn.ModuleList([
            cb(3, 32, 3, 3, stride=2, same=False), cb(32, 32, 3, 3, same=False), cb(32, 64, 3, 3),
            cb(64, 80, 1, 1, same=False), cb(80, 192, 3, 3, same=False),
        ])  # fmt: skip
        self.blocks = nn.ModuleList()
        for cin, pool in ((192, 32), (256, 64), (288, 64)):  # mixed0-2 (35×35)
            self.blocks.append(nn.ModuleList([
                cb(cin, 64, 1, 1), cb(cin, 48, 1, 1), cb(48, 64, 5, 5),
                cb(cin, 64, 1, 1), cb(64, 96, 3, 3), cb(96, 96, 3, 3), cb(cin, pool, 1, 1),
            ]))  # fmt: skip
        self.blocks.append(nn.ModuleList([  # mixed3 (→ 17×17)
            cb(288, 384, 3, 3, stride=2, same=False), cb(288, 64, 1, 1), cb(64, 96, 3, 3),
            cb(96, 96, 3, 3, stride=2, same=False),
        ]))  # fmt: skip
        for c7 in (128, 160, 160, 192):  # mixed4-7
            self.blocks.append(nn.ModuleList([
                cb(768, 192, 1, 1), cb(768, c7, 1, 1), cb(c7, c7, 1, 7), cb(c7, 192, 7, 1),
                cb(768, c7, 1, 1), cb(c7, c7, 7, 1), cb(c7, c7, 1, 7), cb(c7, c7, 7, 1), cb(c7, 192, 1, 7),
                cb(768, 192, 1, 1),
            ]))  # fmt: skip
        self.blocks.append(nn.ModuleList([  # mixed8 (→ 8×8)
            cb(768, 192, 1, 1), cb(192, 320, 3, 3, stride=2, same=False), cb(768, 192, 1, 1),
            cb(192, 192, 1, 7), cb(192, 192, 7, 1), cb(192, 192, 3, 3, stride=2, same=False),
        ]))  # fmt: skip
        for cin in (1280, 2048):  # mixed9-10
            self.blocks.append(nn.ModuleList([
                cb(cin, 320, 1, 1), cb(cin, 384, 1, 1), cb(384, 384, 1, 3), cb(384, 384, 3, 1),
                cb(cin, 448, 1, 1), cb(448, 384, 3, 3), cb(384, 384, 1, 3), cb(384, 384, 3, 1),
                cb(cin, 192, 1, 1),
            ]))  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stem
        x = _max_valid(s[2](s[1](s[0](x))))
        x = _max_valid(s[4](s[3](x)))
        for i, b in enumerate(self.blocks):
            if i < 3:
                x = torch.cat([b[0](x), b[2](b[1](x)), b[5](b[4](b[3](x))), b[6](_avg_same(x))], 1)
            elif i == 3:
                x = torch.cat([b[0](x), b[3](b[2](b[1](x))), _max_valid(x)], 1)
            elif i < 8:
                x = torch.cat([b[0](x), b[3](b[2](b[1](x))), b[8](b[7](b[6](b[5](b[4](x))))), b[9](_avg_same(x))], 1)
            elif i == 8:
                x = torch.cat([b[1](b[0](x)), b[5](b[4](b[3](b[2](x)))), _max_valid(x)], 1)
            else:
                y = b[1](x)
                z = b[5](b[4](x))
                x = torch.cat([b[0](x), b[2](y), b[3](y), b[6](z), b[7](z), b[8](_avg_same(x))], 1)
        return x.mean((2, 3))


# --------------------------------------------------------------------------------------------
# Keras .h5 → torch state dict
# --------------------------------------------------------------------------------------------


def _decode(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def read_keras_h5(path: str | Path) -> list[tuple[str, dict[str, np.ndarray]]]:
    """(layer name, {weight name: array}) for every layer with weights, in the file's layer order.

    Reads the legacy Keras HDF5 layout (``model.save('x.h5')`` or ``model.save_weights('x.h5')``,
    Keras 2 and 3): a ``layer_names`` attribute on the root or on ``model_weights``, each layer
    group listing its ``weight_names``.
    """
    import h5py

    out = []
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ConfigError(f"{path}: not a readable HDF5 file ({exc}); download it again") from None
    with f:
        g = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in g.attrs:
            raise ConfigError(f"{path}: not a Keras HDF5 weights file (no layer_names attribute)")
        for layer in map(_decode, g.attrs["layer_names"]):
            names = [_decode(n) for n in g[layer].attrs.get("weight_names", [])]
            if names:
                # "conv2d_5/kernel:0" (Keras 2) or "conv2d_5/kernel" (Keras 3) → "kernel"
                out.append((layer, {re.sub(r":\d+$", "", n).rsplit("/", 1)[-1]: np.asarray(g[layer][n]) for n in names}))
    return out


def _creation_index(layer: str) -> int:
    m = re.search(r"_(\d+)$", layer)
    return int(m.group(1)) if m else 0


def convert_keras_h5(path: str | Path) -> dict[str, torch.Tensor]:
    """A :class:`KerasInceptionV3` state dict from a Keras InceptionV3 ``.h5`` (notop or with top)."""
    layers = sorted(read_keras_h5(path), key=lambda lw: _creation_index(lw[0]))
    convs = [w for name, w in layers if "kernel" in w and np.ndim(w["kernel"]) == 4]
    bns = [w for name, w in layers if "moving_mean" in w]
    model = KerasInceptionV3()
    if len(convs) != len(model.convs) or len(bns) != len(model.convs):
        raise ConfigError(
            f"{path}: {len(convs)} convolutions and {len(bns)} batch norms, but InceptionV3 has "
            f"{len(model.convs)}: not a Keras InceptionV3 weights file"
        )
    by_module = {id(m): n for n, m in model.named_modules()}
    state = {}
    for i, (m, c, b) in enumerate(zip(model.convs, convs, bns)):
        prefix = by_module[id(m)]
        kernel = torch.from_numpy(np.ascontiguousarray(np.transpose(c["kernel"], (3, 2, 0, 1)))).float()
        if kernel.shape != m.conv.weight.shape:
            raise ConfigError(f"{path}: convolution {i} has shape {tuple(kernel.shape)}, expected {tuple(m.conv.weight.shape)}")
        n = kernel.shape[0]
        state[f"{prefix}.conv.weight"] = kernel
        state[f"{prefix}.bn.weight"] = torch.from_numpy(np.asarray(b.get("gamma", np.ones(n)), np.float32))
        state[f"{prefix}.bn.bias"] = torch.from_numpy(np.asarray(b.get("beta", np.zeros(n)), np.float32))
        state[f"{prefix}.bn.running_mean"] = torch.from_numpy(np.asarray(b["moving_mean"], np.float32))
        state[f"{prefix}.bn.running_var"] = torch.from_numpy(np.asarray(b["moving_variance"], np.float32))
        state[f"{prefix}.bn.num_batches_tracked"] = torch.tensor(0)
    return state


def load_weights(path: str | Path, key: str) -> dict[str, torch.Tensor]:
    """A state dict from our converted ``.pt`` or directly from the Keras ``.h5``."""
    from .weights import load_state_dict

    path = Path(path)
    if path.suffix.lower() in (".h5", ".hdf5") and path.is_file():
        return convert_keras_h5(path)
    return load_state_dict(path, f"{key}.weights")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("convert", help="Keras InceptionV3 .h5 → torch state dict (.pt)")
    c.add_argument("h5")
    c.add_argument("out")
    args = ap.parse_args(argv)
    state = convert_keras_h5(args.h5)
    KerasInceptionV3().load_state_dict(state)  # every key and shape
    torch.save(state, args.out)
    print(f"{args.out}: {len(state)} tensors from {args.h5}")


if __name__ == "__main__":
    main()
