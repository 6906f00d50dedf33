# SPDX-License-Identifier: Apache-2.0
"""Putting the hooks in place and taking them out again.

Each version module declares what it hooks as a table of :class:`Target`
rows (``wrap``, ``replace``, ``prepare``) and installs it with
:func:`install_targets`: one post-import hook per SDK module, applying that
module's rows in order. Everything applied is recorded by the framework's
:class:`Patcher`, so ``unwrap_all`` undoes exactly the table, in reverse.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, NamedTuple

from ._emit import internal_error, library_version


class Patcher:
    """Applies wrapt function wrappers and remembers them, so a framework's
    hooks can be removed again (``unpatch``) and are never applied twice."""

    def __init__(self, framework: str) -> None:
        self.framework = framework
        self.applied: list[tuple[Any, str, Any]] = []  # (owner, attribute, original)

    def _resolve(self, module: Any, target: str) -> tuple[Any, str, Any] | None:
        """(owner, attribute, current value) of ``module.<target>``; a missing
        target is reported (naming it and the installed version)."""
        try:
            owner = module
            parts = target.split(".")
            for part in parts[:-1]:
                owner = getattr(owner, part)
            attribute = parts[-1]
            original = owner.__dict__[attribute] if isinstance(owner, type) else getattr(owner, attribute)
        except (AttributeError, KeyError):
            version = library_version(self.framework) or "unknown version"
            internal_error(
                f"hooks: {self.framework}",
                f"hook target not found: {module.__name__}:{target} ({self.framework} {version}); "
                "that part of the MCP traffic is not observed",
            )
            return None
        return owner, attribute, original

    def wrap(self, module: Any, target: str, wrapper: Any) -> bool:
        """Wraps ``module.<target>`` (``"Class.method"`` or ``"function"``).
        A missing target is reported and skipped; returns whether the wrapper
        is in place."""
        from ._wrapt import wrapt

        found = self._resolve(module, target)
        if found is None:
            return False
        owner, attribute, original = found
        if is_ours(original):
            return True
        try:
            wrapt.wrap_function_wrapper(owner, attribute, wrapper)
            current = owner.__dict__[attribute] if isinstance(owner, type) else getattr(owner, attribute)
            # `_self_` attributes stay on a wrapt proxy; others would be set on
            # the wrapped function itself and survive an unwrap.
            with contextlib.suppress(Exception):  # the marker is best effort
                current._self_bluepython_wrapped = True
            self.applied.append((owner, attribute, original))
            return True
        except Exception as exc:
            internal_error(f"hooks: {self.framework}: wrap {module.__name__}:{target}", exc)
            return False

    def replace(self, module: Any, target: str, make: Any) -> bool:
        """Replaces the method ``module.<Class.method>`` with ``make(original)``,
        a plain function: for the few methods every message passes through,
        where a wrapt wrapper (pure Python in the bundled copy) would cost
        microseconds per call. Same contract as :meth:`wrap`."""
        found = self._resolve(module, target)
        if found is None:
            return False
        owner, attribute, original = found
        if is_ours(original):
            return True
        try:
            replacement = functools.wraps(original)(make(original))
            replacement._bluepython_wrapped = True
            setattr(owner, attribute, replacement)
            self.applied.append((owner, attribute, original))
            return True
        except Exception as exc:
            internal_error(f"hooks: {self.framework}: replace {module.__name__}:{target}", exc)
            return False

    def unwrap_all(self) -> None:
        while self.applied:
            owner, attribute, original = self.applied.pop()
            try:
                setattr(owner, attribute, original)
            except Exception as exc:
                internal_error(f"hooks: {self.framework}: unwrap {attribute}", exc)


def is_ours(obj: Any) -> bool:
    """Whether ``obj`` is a wrapper or replacement bluepython put in place."""
    try:
        if getattr(obj, "_self_bluepython_wrapped", False):
            return True
        return "_bluepython_wrapped" in getattr(obj, "__dict__", {})
    except Exception:
        return False


def guarded(where: str, fn: Any) -> Any:
    """A post-import hook that reports instead of raising into the import."""

    def hook(module: Any) -> None:
        try:
            fn(module)
        except Exception as exc:
            internal_error(where, exc)

    return hook


# ---------------------------------------------------------------------------
# Declarative target tables


class Target(NamedTuple):
    """One row of a version module's table: when ``module`` is imported,
    ``how`` ("wrap": a wrapt wrapper; "replace": ``Patcher.replace`` with the
    maker ``hook``; "prepare": ``hook(module)`` runs first, e.g. to learn the
    module's classes) is applied to ``attribute`` (``"Class.method"`` or
    ``"function"``)."""

    module: str
    attribute: str
    hook: Any
    how: str


def wrap(module: str, attribute: str, wrapper: Any) -> Target:
    return Target(module, attribute, wrapper, "wrap")


def replace(module: str, attribute: str, make: Any) -> Target:
    return Target(module, attribute, make, "replace")


def prepare(module: str, fn: Any) -> Target:
    """``fn(module)`` when ``module`` is imported, before the rows after it
    (a fault skips that module's remaining rows and is reported)."""
    return Target(module, "", fn, "prepare")


def install_targets(patcher: Patcher, when_imported: Any, targets: tuple[Target, ...]) -> None:
    """Registers one post-import hook per module of ``targets`` (in the order
    the modules first appear), applying its rows in order. Undone, row for
    row, by ``patcher.unwrap_all()``."""
    by_module: dict[str, list[Target]] = {}
    for target in targets:
        by_module.setdefault(target.module, []).append(target)
    for name, rows in by_module.items():
        when_imported(name, functools.partial(_apply, patcher, tuple(rows)))


def _apply(patcher: Patcher, rows: tuple[Target, ...], module: Any) -> None:
    for row in rows:
        if row.how == "prepare":
            row.hook(module)
        elif row.how == "replace":
            patcher.replace(module, row.attribute, row.hook)
        else:
            patcher.wrap(module, row.attribute, row.hook)


def arg(args: Any, kwargs: Any, index: int, name: str, default: Any = None) -> Any:
    """A wrapped call's argument, given by position or by name."""
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)
