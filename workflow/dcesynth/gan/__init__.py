"""pix2pixHD for pre- to post-contrast synthesis: networks, losses, training, inference."""

from .infer import translate
from .networks import build_discriminator, build_generator, infer_generator_options
from .train import export_generator, init_state, load_generator, load_state, train_epoch

__all__ = [
    "build_discriminator",
    "build_generator",
    "export_generator",
    "infer_generator_options",
    "init_state",
    "load_generator",
    "load_state",
    "train_epoch",
    "translate",
]
