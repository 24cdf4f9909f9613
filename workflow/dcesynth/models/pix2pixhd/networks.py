"""pix2pixHD networks with NVIDIA's module layout, so published state dicts load unchanged.

GlobalGenerator: ReflectionPad(3) + 7×7 conv + norm + ReLU; ``n_downsample_global`` stride-2 3×3
convs doubling channels; ``n_blocks_global`` residual blocks; as many transposed stride-2 convs
halving channels; ReflectionPad(3) + 7×7 conv + Tanh. LocalEnhancer: the global generator (less its
output head) on a 2× downsampled input plus a full-resolution branch. MultiscaleDiscriminator:
``num_D`` PatchGANs on the input and AvgPool-downsampled copies, returning every layer's features
(for feature matching). Parameter names follow NVIDIA's (``model.1.weight``,
``scale0_layer0.0.weight``, …).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn

GENERATOR_DEFAULTS: dict[str, Any] = {
    "input_nc": 3,
    "output_nc": 3,
    "ngf": 64,
    "netG": "global",
    "n_downsample_global": 4,
    "n_blocks_global": 9,
    "n_local_enhancers": 1,
    "n_blocks_local": 3,
    "norm": "instance",
}


def norm_layer(kind: str):
    if kind == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False)
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True)
    raise ValueError(f"norm must be 'instance' or 'batch', not {kind!r}")


def biases_into_instance_norm(net: nn.Module) -> dict[str, nn.Parameter]:
    """The biases of convolutions that feed an affine-free instance norm (NVIDIA's layout has them),
    by parameter name. The norm subtracts each channel's mean, bias included: they change no output,
    and their gradient is zero in exact arithmetic."""
    found = {}
    for name, module in net.named_modules():
        children = list(module.named_children())
        for (a, conv), (_, norm) in zip(children, children[1:]):
            if (isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and conv.bias is not None
                    and isinstance(norm, nn.InstanceNorm2d) and not norm.affine):  # fmt: skip
                found[f"{name}.{a}.bias".lstrip(".")] = conv.bias
    return found


def freeze_biases_into_instance_norm(net: nn.Module) -> int:
    """Train without the biases :func:`biases_into_instance_norm` finds (they keep their values).

    What is left of their gradient is float noise of ~1e-9, which Adam normalises into steps of about
    the learning rate: a random walk that differs between any two runs summing in another order
    (1 process x batch 4 against 2 x 2, CPU against CUDA) and changes nothing else. Returns how many."""
    biases = biases_into_instance_norm(net)
    for p in biases.values():
        p.requires_grad_(False)
    return len(biases)


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, norm, activation: nn.Module | None = None):
        super().__init__()
        activation = activation or nn.ReLU(True)
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm(dim), activation,
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm(dim),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


def _global_layers(input_nc, output_nc, ngf, n_down, n_blocks, norm) -> list[nn.Module]:
    act = nn.ReLU(True)
    layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7), norm(ngf), act]
    for i in range(n_down):
        m = 2**i
        layers += [nn.Conv2d(ngf * m, ngf * m * 2, 3, stride=2, padding=1), norm(ngf * m * 2), act]
    m = 2**n_down
    layers += [ResnetBlock(ngf * m, norm, act) for _ in range(n_blocks)]
    for i in range(n_down):
        m = 2 ** (n_down - i)
        layers += [
            nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, stride=2, padding=1, output_padding=1),
            norm(ngf * m // 2),
            act,
        ]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
    return layers


class GlobalGenerator(nn.Module):
    def __init__(self, input_nc=3, output_nc=3, ngf=64, n_downsampling=4, n_blocks=9, norm="instance"):
        super().__init__()
        self.model = nn.Sequential(*_global_layers(input_nc, output_nc, ngf, n_downsampling, n_blocks, norm_layer(norm)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class LocalEnhancer(nn.Module):
    def __init__(
        self, input_nc=3, output_nc=3, ngf=32, n_downsample_global=3, n_blocks_global=9,
        n_local_enhancers=1, n_blocks_local=3, norm="instance",
    ):  # fmt: skip
        super().__init__()
        nl = norm_layer(norm)
        self.n_local_enhancers = n_local_enhancers
        glob = _global_layers(input_nc, output_nc, ngf * 2**n_local_enhancers, n_downsample_global, n_blocks_global, nl)
        self.model = nn.Sequential(*glob[:-3])  # the global generator without its output head
        for n in range(1, n_local_enhancers + 1):
            g = ngf * 2 ** (n_local_enhancers - n)
            down = [
                nn.ReflectionPad2d(3), nn.Conv2d(input_nc, g, 7), nl(g), nn.ReLU(True),
                nn.Conv2d(g, g * 2, 3, stride=2, padding=1), nl(g * 2), nn.ReLU(True),
            ]  # fmt: skip
            up: list[nn.Module] = [ResnetBlock(g * 2, nl) for _ in range(n_blocks_local)]
            up += [nn.ConvTranspose2d(g * 2, g, 3, stride=2, padding=1, output_padding=1), nl(g), nn.ReLU(True)]
            if n == n_local_enhancers:
                up += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
            setattr(self, f"model{n}_1", nn.Sequential(*down))
            setattr(self, f"model{n}_2", nn.Sequential(*up))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pyramid = [x]
        for _ in range(self.n_local_enhancers):
            pyramid.append(self.downsample(pyramid[-1]))
        out = self.model(pyramid[-1])
        for n in range(1, self.n_local_enhancers + 1):
            branch = getattr(self, f"model{n}_1")(pyramid[self.n_local_enhancers - n])
            out = getattr(self, f"model{n}_2")(branch + out)
        return out


def build_generator(**options: Any) -> nn.Module:
    """A pix2pixHD generator from NVIDIA's option names (missing ones take the paper's values)."""
    unknown = set(options) - set(GENERATOR_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown generator options: {sorted(unknown)}")
    o = {**GENERATOR_DEFAULTS, **options}
    if o["netG"] == "global":
        return GlobalGenerator(o["input_nc"], o["output_nc"], o["ngf"], o["n_downsample_global"], o["n_blocks_global"], o["norm"])
    if o["netG"] == "local":
        return LocalEnhancer(
            o["input_nc"], o["output_nc"], o["ngf"], o["n_downsample_global"], o["n_blocks_global"],
            o["n_local_enhancers"], o["n_blocks_local"], o["norm"],
        )  # fmt: skip
    raise ValueError(f"netG must be 'global' or 'local', not {o['netG']!r}")


def infer_generator_options(state_dict: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Options of a global generator from the shapes of its NVIDIA-format state dict."""
    if any(k.startswith("model1_") for k in state_dict):
        raise ValueError("a LocalEnhancer state dict: give its options explicitly")
    first = state_dict["model.1.weight"]
    blocks = {k.split(".")[1] for k in state_dict if ".conv_block." in k}
    convs = sorted(int(k.split(".")[1]) for k in state_dict if k.endswith(".weight") and ".conv_block." not in k)
    last = state_dict[f"model.{convs[-1]}.weight"]
    n_down = (len(convs) - 2) // 2
    norm = "batch" if any(k.endswith("running_mean") for k in state_dict) else "instance"
    return {
        "input_nc": int(first.shape[1]),
        "output_nc": int(last.shape[0]),
        "ngf": int(first.shape[0]),
        "netG": "global",
        "n_downsample_global": n_down,
        "n_blocks_global": len(blocks),
        "norm": norm,
    }


class NLayerDiscriminator(nn.Module):
    """A PatchGAN whose layers are kept apart (``model0`` … ``model{n_layers+1}``)."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, norm: str = "instance"):
        super().__init__()
        nl = norm_layer(norm)
        kw, pad = 4, 2
        seq: list[list[nn.Module]] = [[nn.Conv2d(input_nc, ndf, kw, stride=2, padding=pad), nn.LeakyReLU(0.2, True)]]
        nf = ndf
        for _ in range(1, n_layers):
            prev, nf = nf, min(nf * 2, 512)
            seq.append([nn.Conv2d(prev, nf, kw, stride=2, padding=pad), nl(nf), nn.LeakyReLU(0.2, True)])
        prev, nf = nf, min(nf * 2, 512)
        seq.append([nn.Conv2d(prev, nf, kw, stride=1, padding=pad), nl(nf), nn.LeakyReLU(0.2, True)])
        seq.append([nn.Conv2d(nf, 1, kw, stride=1, padding=pad)])
        self.layers = [nn.Sequential(*s) for s in seq]


class MultiscaleDiscriminator(nn.Module):
    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, num_D: int = 2, norm: str = "instance"):
        super().__init__()
        self.num_D, self.n_layers = num_D, n_layers
        for i in range(num_D):
            for j, layer in enumerate(NLayerDiscriminator(input_nc, ndf, n_layers, norm).layers):
                setattr(self, f"scale{i}_layer{j}", layer)
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        """Per scale (full resolution first), the features of every layer; the last is the prediction."""
        results = []
        for i in range(self.num_D):
            # NVIDIA's order: the full-resolution input goes through the highest-numbered scale.
            scale = self.num_D - 1 - i
            feats, h = [], x
            for j in range(self.n_layers + 2):
                h = getattr(self, f"scale{scale}_layer{j}")(h)
                feats.append(h)
            results.append(feats)
            if i != self.num_D - 1:
                x = self.downsample(x)
        return results


def build_discriminator(input_nc: int, ndf: int = 64, n_layers_D: int = 3, num_D: int = 2, norm: str = "instance"):
    return MultiscaleDiscriminator(input_nc, ndf, n_layers_D, num_D, norm)
