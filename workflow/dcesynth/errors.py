"""Errors that name the case and the file, so one line tells the user what to fix."""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad input data: printed as one line ``case <id>: <file>: <problem>. <hint>``."""

    def __init__(self, case: str | None, path: str | Path | None, problem: str, hint: str = ""):
        self.case = case
        self.path = None if path is None else str(path)
        self.problem = problem
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts = []
        if self.case is not None:
            parts.append(f"case {self.case}")
        if self.path is not None:
            parts.append(self.path)
        parts.append(self.problem.rstrip("."))
        line = ": ".join(parts) + "."
        if self.hint:
            line += " " + self.hint.rstrip(".") + "."
        return line


class ConfigError(Exception):
    """A configuration value that cannot work; the message names the key."""


def problem_list(where: str, problems: list[str], what: str = "", limit: int = 20) -> ConfigError:
    """Every problem of a sheet at once, one per line: ``<where>: N problem(s)<what>:`` and then
    the first ``limit`` problems and a count of the rest."""
    lines = problems[:limit] + ([f"... and {len(problems) - limit} more"] if len(problems) > limit else [])
    return ConfigError(f"{where}: {len(problems)} problem(s){what}:\n  " + "\n  ".join(lines))
