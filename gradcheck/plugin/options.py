"""The plugin's options: command line and ini keys, read once into :class:`Options`."""

from __future__ import annotations

import secrets
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = ["add_options", "Options", "OPTIONS", "SEED_RANGE"]

SEED_RANGE = 2**31


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradcheck", "gradient checks of hand-written backward passes")
    group.addoption(
        "--gradcheck", action="extend", nargs="+", default=None, dest="gradcheck_paths", metavar="PATH",
        help="import these implementation files or folders and check every gradient declared in them "
             "(FILE.py::NAME: that one check)",
    )
    group.addoption("--gradcheck-examples", dest="gradcheck_examples", metavar="N",
                    help="examples per check (default 50)")
    group.addoption("--gradcheck-seed", dest="gradcheck_seed", metavar="S",
                    help="seed of every check: the same seed gives the same examples and verdicts")
    group.addoption("--gradcheck-timeout", dest="gradcheck_timeout", metavar="SECONDS",
                    help="end a check that runs longer, as a failure of kind timeout")
    group.addoption("--gradcheck-json", dest="gradcheck_json", metavar="FILE",
                    help="write one JSON record per check to FILE")
    group.addoption("--gradcheck-html", dest="gradcheck_html", metavar="FILE",
                    help="write one self-contained HTML page of every check to FILE, failures first")
    group.addoption("--gradcheck-spec", dest="gradcheck_spec", metavar="FILE",
                    help="a Python file whose gradcheck_specs declares checks for undecorated functions")
    group.addoption("--gradcheck-ci", dest="gradcheck_ci", action="store_const", const="true",
                    help="CI profile: fixed seed 0 unless given, no example database, no deadline")
    group.addoption("--gradcheck-nasty", dest="gradcheck_nasty", action="store_const", const="true",
                    help="put half of the drawn values on exact zeros, ties and round bounds (kinks)")
    group.addoption("--gradcheck-mode", dest="gradcheck_mode", choices=("auto", "probe", "full"), default=None,
                    help="auto: probes, then entry-by-entry confirmation and sweeps within a budget of a few "
                         "forward+backward passes, bisection beyond it; probe: probes and bisection only; "
                         "full: every entry of the reported example")
    group.addoption("--gradcheck-strict", dest="gradcheck_strict", action="store_const", const="true",
                    help="fail on any difference beyond the numeric error, even below the practical floor")
    group.addoption("--gradcheck-grade", dest="gradcheck_grade", metavar="SPEC",
                    help="grade the submissions in --gradcheck-submissions against this assignment spec")
    group.addoption("--gradcheck-submissions", dest="gradcheck_submissions", metavar="DIR",
                    help="one sub-folder or .py file per student (with --gradcheck-grade)")
    parser.addini("gradcheck_paths", type="paths", default=[],
                  help="implementation files or folders to check, as with --gradcheck")
    for key, text in [
        ("gradcheck_examples", "examples per check"),
        ("gradcheck_seed", "seed of every check"),
        ("gradcheck_timeout", "time limit of one check, in seconds"),
        ("gradcheck_json", "write one JSON record per check to this file"),
        ("gradcheck_html", "write an HTML page of every check to this file"),
        ("gradcheck_spec", "a Python file whose gradcheck_specs declares checks"),
        ("gradcheck_ci", "true: fixed seed, no example database"),
        ("gradcheck_nasty", "true: draw values on kinks and ties too"),
        ("gradcheck_mode", "auto, probe or full"),
        ("gradcheck_strict", "true: no practical floor for tiny differences"),
    ]:
        parser.addini(key, text, default=None)


@dataclass
class Options:
    """The plugin's settings, read once from the command line and ini file."""

    paths: list[Path] = field(default_factory=list)
    node_ids: list[str] = field(default_factory=list)  # --gradcheck layers.py::affine_backward: that check only
    examples: int | None = None
    seed: int = 0
    seed_given: bool = False
    timeout: float | None = None
    json: Path | None = None
    html: Path | None = None
    spec: Path | None = None
    ci: bool = False
    nasty: bool = False
    mode: str = "auto"
    strict: bool = False

    @classmethod
    def from_config(cls, config: pytest.Config) -> Options:
        def value(key: str) -> Any:
            given = config.getoption(key, None)
            return given if given is not None else config.getini(key)

        here = config.invocation_params.dir
        given = config.getoption("gradcheck_paths") or []
        paths = [here / p.split("::")[0] for p in given] + list(config.getini("gradcheck_paths"))
        for path in paths:
            if not path.exists():
                raise pytest.UsageError(f"--gradcheck: no such file or folder: {path}")
        ci = _parse(value("gradcheck_ci"), "gradcheck_ci", _boolean) or False
        seed = _parse(value("gradcheck_seed"), "--gradcheck-seed", int)
        seed_given = seed is not None
        if seed is None:
            seed = _hypothesis_seed(config)
            seed_given = seed is not None
        if seed is None:
            seed = 0 if ci else secrets.randbelow(SEED_RANGE)
        return cls(
            paths=[p.resolve() for p in paths],
            node_ids=[str((here / p.split("::")[0]).resolve()) + p[p.index("::"):] for p in given if "::" in p],
            examples=_parse(value("gradcheck_examples"), "--gradcheck-examples", _positive_int),
            seed=seed,
            seed_given=seed_given,
            timeout=_parse(value("gradcheck_timeout"), "--gradcheck-timeout", _positive_float),
            json=_parse(value("gradcheck_json"), "--gradcheck-json", lambda t: here / t),
            html=_parse(value("gradcheck_html"), "--gradcheck-html", lambda t: here / t),
            spec=_parse(value("gradcheck_spec"), "--gradcheck-spec", lambda t: here / t),
            ci=ci,
            nasty=_parse(value("gradcheck_nasty"), "gradcheck_nasty", _boolean) or False,
            mode=_parse(value("gradcheck_mode"), "gradcheck_mode", _mode) or "auto",
            strict=_parse(value("gradcheck_strict"), "gradcheck_strict", _boolean) or False,
        )


def _parse(text: Any, name: str, convert: Callable[[Any], Any]) -> Any:
    if text is None or text == "":
        return None
    try:
        return convert(str(text).strip())
    except ValueError as exc:
        raise pytest.UsageError(f"{name}: {exc}") from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"expected an integer >= 1, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(f"expected a positive number of seconds, got {text}")
    return value


def _mode(text: str) -> str:
    if text not in ("auto", "probe", "full"):
        raise ValueError(f"expected auto, probe or full, got {text!r}")
    return text


def _boolean(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _hypothesis_seed(config: pytest.Config) -> int | None:
    """Respect ``--hypothesis-seed`` when no gradcheck seed is given."""
    given = config.getoption("hypothesis_seed", None)
    if given is None:
        return None
    text = str(given)
    return int(text) % SEED_RANGE if text.lstrip("-").isdigit() else zlib.crc32(text.encode()) % SEED_RANGE


# ----------------------------------------------------------------- configure

OPTIONS = pytest.StashKey[Options]()
