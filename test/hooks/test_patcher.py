# SPDX-License-Identifier: Apache-2.0
"""The patcher every version module's target table goes through: wrapped, unwrapped, never
wrapped twice, a missing target reported (hooks/bluepython_hooks/_patcher.py)."""

from __future__ import annotations

import sys
import types

from bluepython_hooks._patcher import Patcher, is_ours
from conftest import emitted


def _module() -> types.ModuleType:
    module = types.ModuleType("bp_patch_target")

    class Session:
        def send(self, x: int) -> int:
            return x + 1

    def handler(x: int) -> int:
        return x * 2

    module.Session = Session
    module.handler = handler
    sys.modules[module.__name__] = module
    return module


def _double_result(wrapped, instance, args, kwargs):
    return wrapped(*args, **kwargs) * 10


def test_wrap_then_unwrap_restores_the_originals() -> None:
    m = _module()
    original_send, original_handler = m.Session.__dict__["send"], m.handler
    p = Patcher("unit-test")
    assert p.wrap(m, "Session.send", _double_result)
    assert p.wrap(m, "handler", _double_result)
    assert is_ours(m.Session.__dict__["send"]) and is_ours(m.handler)
    assert m.Session().send(1) == 20 and m.handler(2) == 40
    p.unwrap_all()
    assert m.Session.__dict__["send"] is original_send and m.handler is original_handler
    assert not is_ours(m.handler)
    assert m.Session().send(1) == 2


def test_never_wrapped_twice() -> None:
    m = _module()
    p = Patcher("unit-test")
    assert p.wrap(m, "handler", _double_result)
    assert p.wrap(m, "handler", _double_result)
    assert Patcher("unit-test").wrap(m, "handler", _double_result)
    assert m.handler(1) == 20  # once, not 200 or 2000
    assert len(p.applied) == 1


def test_replace_is_symmetric_too() -> None:
    m = _module()
    original = m.Session.__dict__["send"]
    p = Patcher("unit-test")
    assert p.replace(m, "Session.send", lambda orig: lambda self, x: orig(self, x) - 1)
    assert is_ours(m.Session.__dict__["send"]) and m.Session().send(5) == 5
    assert p.replace(m, "Session.send", lambda orig: lambda self, x: 0)  # already ours: left alone
    assert m.Session().send(5) == 5
    p.unwrap_all()
    assert m.Session.__dict__["send"] is original


def test_a_missing_target_is_reported_not_raised() -> None:
    m = _module()
    assert not Patcher("unit-test").wrap(m, "Session.gone", _double_result)
    faults = emitted("python_internal_exception", lambda e: "bp_patch_target:Session.gone" in str(e))
    assert faults and "hook target not found" in str(faults[-1])
