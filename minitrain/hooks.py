"""Forward hooks on a model's layers (the course's Hook and Hooks): registered together, removed together."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from torch import nn

HookFn = Callable[..., Any]  # fn(hook, module, inputs, output), called after each forward pass of the module


class Hook:
    """Calls `fn(self, module, inputs, output)` after every forward pass of `module`, until `remove()`.

    `fn` may keep what it records on the hook itself (`hook.stats = ...`), as the course's append_stats does.
    """

    def __init__(self, module: nn.Module, fn: HookFn) -> None:
        self.module = module
        self.handle = module.register_forward_hook(partial(fn, self))

    def remove(self) -> None:
        """Unregister the hook from its module (a second call does nothing)."""
        self.handle.remove()

    def __enter__(self) -> Hook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class Hooks(list):
    """One Hook per module, all calling `fn`; a context manager that removes them all when the block ends."""

    def __init__(self, modules: Iterable[nn.Module], fn: HookFn) -> None:
        super().__init__(Hook(m, fn) for m in modules)

    def remove(self) -> None:
        """Unregister every hook."""
        for hook in self:
            hook.remove()

    def __enter__(self) -> Hooks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def layers_of(model: nn.Module, types: tuple[type[nn.Module], ...]) -> list[tuple[str, nn.Module]]:
    """(name, module) of every submodule of one of `types`, in the order `named_modules` visits them."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, types)]
