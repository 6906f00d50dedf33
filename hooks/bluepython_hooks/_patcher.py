# SPDX-License-Identifier: Apache-2.0
"""Putting the hooks in place and taking them out again: everything applied
is recorded by the framework's :class:`Patcher`, so ``unwrap_all`` undoes it,
in reverse."""

from __future__ import annotations

import contextlib
import functools
from typing import Any

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


def arg(args: Any, kwargs: Any, index: int, name: str, default: Any = None) -> Any:
    """A wrapped call's argument, given by position or by name."""
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)
