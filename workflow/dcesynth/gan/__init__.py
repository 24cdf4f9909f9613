"""pix2pixHD for pre- to post-contrast synthesis: networks, losses, training, inference."""

from .infer import translate
from .networks import build_discriminator, build_generator, infer_generator_options
from .state import export_generator, load_generator, load_state
from .train import init_state, train_epoch

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
