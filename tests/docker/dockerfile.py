"""A small reader of Dockerfiles: the stages and the instructions of each.

Enough for the tests to take the exact command, stop signal, environment and
health check an image runs from the Dockerfile itself, so the tests and the
image cannot drift apart.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
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


# ---------------------------------------------------------------- the build context


def ignore_patterns() -> list[str]:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _matches(pattern: str, relative: str) -> bool:
    """Docker's rule, enough for our file: a pattern matches a path or any of its parent folders."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    if pattern.startswith("**/"):
        tail = pattern[3:]
        return any(fnmatchcase(part, tail) for part in parts)
    return any(fnmatchcase(prefix, pattern) for prefix in prefixes)


def in_context(relative: str, patterns: list[str]) -> bool:
    included = True
    for pattern in patterns:
        negated = pattern.startswith("!")
        if _matches(pattern.lstrip("!").rstrip("/"), relative):
            included = negated
    return included


def build_context_files() -> list[str]:
    patterns = ignore_patterns()
    reincluded = [p.lstrip("!").rstrip("/") for p in patterns if p.startswith("!")]
    found: list[str] = []
    for folder, dirs, files in os.walk(REPO_ROOT):
        base = Path(folder).relative_to(REPO_ROOT).as_posix()
        base = "" if base == "." else base + "/"
        dirs[:] = [
            d for d in dirs if in_context(base + d, patterns) or any(r.startswith(base + d + "/") for r in reincluded)
        ]
        found += [base + f for f in files if in_context(base + f, patterns)]
    return sorted(found)
