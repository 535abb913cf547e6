"""A class graded in shards on several machines, merged into the results of one run.

``gradcheck grade --shard K/N`` grades every N-th submission of the sorted class,
starting with the K-th: the same share on every machine that sees the same
folder.  Its JSON says which shard it is and lists the whole class, so that
``gradcheck merge`` can check that every shard is there, each student graded
exactly once, all with the same spec and settings, and put the records back in
the order one run would have.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import GradcheckError

__all__ = ["parse_shard", "shard_of", "shard_info", "merge_results", "load_results"]

#: Settings every shard of one class must share.
SHARED = ("spec", "seed", "vary_seed", "examples", "checks", "solution_forwards", "solution_forward_notes")


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> ``(2, 4)``: the second of four shares (1-based, like a CI matrix index)."""
    try:
        k_text, n_text = text.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise GradcheckError(f"--shard takes K/N, like --shard 2/4, got {text!r}") from None
    if not 1 <= k <= n:
        raise GradcheckError(f"--shard {text}: K must be between 1 and N, like --shard 1/{max(n, 1)}")
    return k, n


def shard_of(submissions: Sequence[Path], shard: tuple[int, int]) -> list[Path]:
    """The submissions shard ``(k, n)`` grades: the k-th, the (k+n)-th... of the sorted class."""
    k, n = shard
    return list(submissions[k - 1::n])


def shard_info(class_ids: list[str], shard: tuple[int, int]) -> dict[str, Any]:
    """What a shard's JSON says about the run it is part of."""
    return {"index": shard[0], "count": shard[1], "class": list(class_ids)}


def load_results(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """The JSON results of each shard; an unreadable file is named."""
    results = []
    for path in paths:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise GradcheckError(f"cannot read {path}: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("shard"), dict):
            raise GradcheckError(f"{path} is not the JSON of a shard (written by gradcheck grade --shard K/N --json)")
        results.append(data)
    return results


def merge_results(shards: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The results one unsharded run would have given (timings aside).

    Parameters
    ----------
    shards
        The JSON results of shards 1..N of one class, in any order.
    """
    if not shards:
        raise GradcheckError("gradcheck merge needs the JSON of every shard")
    first = shards[0]
    count, order = first["shard"]["count"], first["shard"]["class"]
    for shard in shards:
        for key in SHARED:
            if shard.get(key) != first.get(key):
                raise GradcheckError(f"shards {first['shard']['index']}/{count} and {shard['shard']['index']}/"
                                     f"{shard['shard']['count']} differ in {key!r}: they are not one class's")
        if shard["shard"]["count"] != count or shard["shard"]["class"] != order:
            raise GradcheckError("the shards were graded on different classes (another N or other submissions)")
    indices = sorted(s["shard"]["index"] for s in shards)
    if indices != list(range(1, count + 1)):
        missing = sorted(set(range(1, count + 1)) - set(indices))
        twice = sorted({i for i in indices if indices.count(i) > 1})
        raise GradcheckError(f"expected shards 1..{count} once each; missing {missing}, more than once {twice}")
    records = {sub["id"]: sub for shard in shards for sub in shard["submissions"]}
    if sorted(records) != sorted(order) or sum(len(s["submissions"]) for s in shards) != len(order):
        raise GradcheckError("the shards do not hold every student of the class exactly once")
    merged = {key: value for key, value in first.items() if key != "shard"}
    merged["time"] = max(s["time"] for s in shards)  # the shards ran side by side
    merged["interrupted"] = any(s["interrupted"] for s in shards)
    merged["submissions"] = [records[student] for student in order]
    return merged
