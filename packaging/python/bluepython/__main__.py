# SPDX-License-Identifier: Apache-2.0
"""`python -m bluepython ARGS`: the same as `bluepython ARGS` for this environment."""

from __future__ import annotations

import os
import sys

from bluepython import executable


def main() -> None:
    path = executable()
    if not os.access(path, os.X_OK):
        sys.exit(f"bluepython: {path} is missing; reinstall bluepython")
    os.execv(path, [path, *sys.argv[1:]])


if __name__ == "__main__":
    main()
