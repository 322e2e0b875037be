"""The real names nearest a misspelt key, group, option or command: "did you mean ...?".

Light (difflib only): the CLI asks it before Hydra or torch loads, and checks.py for keys added with `+`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

CUTOFF = 0.6  # difflib's similarity (0..1) below which a name is not offered
CLOSE = 0.8  # the same, for a whole dotted path or a name anywhere in the config: more names compete there


def nearest(word: str, names: Iterable[str], n: int = 3, cutoff: float = CUTOFF) -> list[str]:
    """Up to `n` of `names` closest to `word`, best first."""
    return difflib.get_close_matches(word, list(dict.fromkeys(names)), n=n, cutoff=cutoff)


def nearest_keys(key: str, keys: Iterable[str], n: int = 3) -> list[str]:
    """Up to `n` of the dotted `keys` nearest the dotted `key`, from the first of these that has any: its siblings
    (`trainer.epoch` -> trainer.epochs, `optimiser` -> optimizer), keys as deep (`trainr.epochs` -> trainer.epochs),
    keys whose last name is near `key`'s, wherever they sit (`epochs` -> trainer.epochs, `lr` -> optimizer.lr)."""
    keys = list(dict.fromkeys(keys))
    parent, _, leaf = key.rpartition(".")
    siblings = {k.rpartition(".")[2]: k for k in keys if k.rpartition(".")[0] == parent}
    by_leaf: dict[str, list[str]] = {}
    for k in sorted(keys, key=lambda k: (k.count("."), k)):  # the shallowest first: optimizer.lr
        by_leaf.setdefault(k.rpartition(".")[2], []).append(k)
    for found in ([siblings[name] for name in nearest(leaf, siblings, n)],
                  nearest(key, [k for k in keys if k.count(".") == key.count(".")], n, CLOSE),
                  [k for name in nearest(leaf, by_leaf, n, CLOSE) for k in by_leaf[name]]):
        if found:
            return found[:n]
    return []


def did_you_mean(names: list[str]) -> str:
    """'did you mean a?', 'did you mean a or b?', 'did you mean a, b or c?'; '' for no names."""
    if not names:
        return ""
    return "did you mean " + (names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}") + "?"
