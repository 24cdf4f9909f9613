"""Resource policy: each rule's threads and resources from the config (``resources.<rule>`` over
``resources.default``), the GPUs a job asks for, and the nodes of a multi-node training epoch.
Rules ask the plan (``common.smk`` binds these methods), and the policy is unit-tested here."""

from __future__ import annotations

import re

from .. import devices
from ..config_keys import RENAMED_RULES
from ..errors import ConfigError


class ResourcesMixin:
    @property
    def uses_cuda(self) -> bool:
        """Whether GPU rules ask the scheduler for a GPU (the one place that decides it)."""
        return devices.wants_gpu(self.config["device"])

    def rule_threads(self, name: str) -> int:
        resources = self.config["resources"]
        return (resources.get(name) or {}).get("threads", resources["default"].get("threads", 1))

    def training_priority(self, run: str, epoch: bool = False) -> int:
        """Scheduling priority of a job of ``run``'s training chain (an epoch, its scoring, SAMe's
        choice, the synthesis), above the rules after them (0; the preprocessing before them is
        :attr:`preprocess_priority`): everything synthetic waits for them, while real-image work fills in. The main run's chain above the other models' (its volumes
        feed the segmentation experiments), and an ``epoch`` above the rest of its run's chain (the
        next epoch before the last one's scoring: a chain without gaps). With the cores kept for
        the highest-priority job that waits (:mod:`dcesynth.core_reservation`), a chain whose epochs
        take several threads starts when one running job ends, not when the one-thread jobs run out."""
        return (3 if run == self.run else 1) + int(epoch)

    @property
    def preprocess_priority(self) -> int:
        """Priority of the preprocessing (the phantom, every case's ingest, N4 and slices, the pair
        lists): above the chains', which wait for it and would otherwise start only when those jobs,
        of priority 0 like the nnU-Net folds, had their turn."""
        return self.training_priority(self.run, epoch=True) + 1

    def epoch_threads(self, run: str) -> int:
        """Threads of one training epoch of ``run``: ``models.<run>.threads`` where a further model
        sets it (a small model's epoch gains little from a second thread), else ``resources.train_epoch``'s."""
        return int((self.models.get(run) or {}).get("threads") or self.rule_threads("train_epoch"))

    def rule_resources(self, name: str, gpu: int = 0) -> dict:
        """Resources of a rule from config (`resources.<rule>`), with the defaults of
        `resources.default`; ``gpu``: the GPUs a job of this rule uses when it runs on CUDA."""
        merged = dict(self.config["resources"]["default"])
        merged.update(self.config["resources"].get(name) or {})
        merged.pop("threads", None)
        if gpu:
            merged["gpu"] = int(gpu) if self.uses_cuda else 0
        return merged

    def check_resource_keys(self, rules: list[str]) -> None:
        """Each `resources.<rule>` must name a rule: a typo (or a rule of an older version) would
        otherwise be ignored without a word."""
        unknown = sorted(set(self.config["resources"]) - {"default"} - set(rules))
        old = [k for k in unknown if k in RENAMED_RULES]
        if old:
            raise ConfigError(f"resources.{old[0]}: the rule is now called {RENAMED_RULES[old[0]]} (it serves every model "
                              f"family): write resources.{RENAMED_RULES[old[0]]} instead")  # fmt: skip
        if unknown:
            raise ConfigError(f"resources.{unknown[0]} names no rule of this workflow. Rules: {', '.join(sorted(rules))}")

    def epoch_gpus(self, run: str) -> int:
        """GPUs of one training-epoch job on CUDA: one per training process."""
        return self.run_of(run).processes if self.uses_cuda else 0

    def nodes_resources(self, rule: str) -> dict:
        """A training epoch over gan.nodes nodes (SLURM profile): the nodes and one task on each;
        `mpi` makes the plugin run the job itself on the first node (not in a one-task step), so
        that it can start its own srun; on CUDA each node's share of the GPUs (`gres` counts per
        node, the plugin's `gpu` per job)."""
        nodes = self.gan_nodes
        out = {**self.rule_resources(rule), "nodes": nodes, "tasks": nodes, "mpi": "srun"}
        if self.uses_cuda:
            out |= {"gres": f"gpu:{self.gan_processes // nodes}", "tasks_per_gpu": 0}
        else:
            out["gpu"] = 0  # the job then trains on the CPU (dcesynth.devices.job_device)
        return out

    def runs_on_nodes(self, multi: bool) -> str:
        """The run wildcard's pattern for the runs whose epochs span several nodes (``multi``), or one."""
        names = [r.name for r in self.run_specs.values() if (r.nodes > 1) == multi]
        return "|".join(re.escape(n) for n in names) or "(?!)"
