"""A small reader of Dockerfiles: the stages and the instructions of each.

Enough for the tests to take the exact command, stop signal, environment and
health check an image runs from the Dockerfile itself, so the tests and the
image cannot drift apart.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO_ROOT / "docker"
APPS = ("api", "web")


@dataclass
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        """The JSON (exec) form's list; raises ValueError for the shell form."""
        value = json.loads(self.args)
        if not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
            raise ValueError(f"{self.keyword} is not in exec form: {self.args}")
        return value


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword.upper()]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        """ENV key=value pairs in order (later ones win)."""
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for item in shlex.split(instruction.args):
                key, _, value = item.partition("=")
                values[key] = value
        return values

    def labels(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("LABEL"):
            for item in shlex.split(instruction.args):
                key, _, value = item.partition("=")
                values[key] = value
        return values


@dataclass
class Dockerfile:
    path: Path
    global_args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def logical_lines(text: str) -> list[str]:
    """Instructions with their continuation lines joined; comments and blank lines dropped."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    if current:
        lines.append(current)
    return lines


def parse(path: Path) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical_lines(path.read_text()):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "FROM":
            words = args.split()
            base = words[0]
            for key, value in global_args.items():
                base = base.replace(f"${{{key}}}", value).replace(f"${key}", value)
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=base, name=name))
        elif not stages:
            if keyword == "ARG":
                key, _, value = args.partition("=")
                global_args[key] = value
        else:
            stages[-1].instructions.append(Instruction(keyword, args))
    return Dockerfile(path, global_args, stages)


def dockerfile_of(app: str) -> Dockerfile:
    return parse(DOCKER_DIR / f"{app}.Dockerfile")


def healthcheck_command(stage: Stage) -> list[str]:
    """The exec-form command of ``HEALTHCHECK [options] CMD [...]``."""
    instruction = stage.last("HEALTHCHECK")
    if instruction is None:
        raise ValueError("no HEALTHCHECK")
    _, _, command = instruction.args.partition("CMD ")
    return Instruction("HEALTHCHECK", command.strip()).exec_form()
