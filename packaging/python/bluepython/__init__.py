# SPDX-License-Identifier: Apache-2.0
"""bluepython's installed files: the `bluepython` executable in the environment's
scripts folder and, here, its core (libbluepython-core.so), which that executable
loads. Nothing here is imported by bluepython itself.

`python -m bluepython ...` runs the executable of this environment.
"""

from __future__ import annotations

import os
import sysconfig

__all__ = ["executable"]


def executable() -> str:
    """The path of this environment's bluepython executable."""
    return os.path.join(sysconfig.get_path("scripts"), "bluepython")
