"""Writes the first-version model files in this folder: run with a checkout of commit cd985bc (the last
version of the families before the registry) first on PYTHONPATH, e.g.
``git worktree add /tmp/v1 cd985bc && PYTHONPATH=/tmp/v1/workflow python make_legacy_models.py .``"""
import sys, numpy as np, torch
out = sys.argv[1]
from dcesynth import models as M
from dcesynth.models import train as T
torch.manual_seed(11)
g = torch.Generator().manual_seed(3)
x = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
expected = {"x": x.numpy()}
# an NCA model file of the first version, with a non-zero update (as after training)
nca = M.build_model("nca", {"channels": 8, "hidden": 16, "steps": 4}, 3, 3)
with torch.no_grad():
    for p in nca.update[-1].parameters():
        p.copy_(torch.randn(p.shape, generator=g) * 0.05)
nca.eval()
M.save_model(f"{out}/nca_v1.pt", "nca", {"channels": 8, "hidden": 16, "steps": 4}, nca, 3, 3, meta={"epoch": 3, "target": "post"})
with torch.no_grad():
    expected["nca"] = nca(x).numpy()
# a flow model file of the first version: its velocity at fixed inputs
flow = M.build_model("flow", {"ngf": 4, "depth": 2, "sample_steps": 2}, 3, 3).eval()
M.save_model(f"{out}/flow_v1.pt", "flow", {"ngf": 4, "depth": 2, "sample_steps": 2}, flow, 3, 3, meta={"epoch": 1, "target": "post"})
with torch.no_grad():
    expected["flow_velocity"] = flow.velocity(x, x, torch.tensor([0.0, 0.5])).numpy()
# an NCA training state of the first version (format dcesynth-model-state-1)
cfg = {"family": "nca", "options": {"channels": 8, "hidden": 16, "steps": 4}, "target": "post", "channels": 3,
       "targets": ["post1"], "input": "pre", "batch_size": 2, "lr": 1e-3, "beta1": 0.9, "niter": 1, "niter_decay": 1,
       "seed": 5, "augment": "rot90", "augment_probability": 0.0, "lambda_perceptual": 0, "vgg": {"mode": "off"}}
state = T.init_model_state(cfg)
state["model"] = {k: v.clone() for k, v in nca.state_dict().items()}
state["epoch"] = 3
torch.save(state, f"{out}/nca_state_v1.pt")
np.savez(f"{out}/expected_v1.npz", **expected)
