# SPDX-License-Identifier: Apache-2.0
"""bluepython's installed core: libbluepython-core.so, loaded by the `bluepython`
executable in the environment's scripts folder (docs/ARCHITECTURE.md, "Finding the
interpreter"). Nothing here is imported by bluepython itself. (Not named `bluepython`:
BlueRock's sensor ships a top-level package of that name, and both may be installed.)
"""

from __future__ import annotations

import os
import sysconfig

__all__ = ["core", "executable"]


def executable() -> str:
    """The path of this environment's bluepython executable."""
    return os.path.join(sysconfig.get_path("scripts"), "bluepython")


def core() -> str:
    """The path of the core library the executable loads."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "libbluepython-core.so")
