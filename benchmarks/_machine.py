"""Machine description printed by every benchmark (absolute times are noise; ratios are the figures)."""

from __future__ import annotations

import os
import platform


def describe() -> str:
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    flags = " ".join(
                        f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile", "avx512_vnni") if f in have
                    )
                    break
    except OSError:
        pass
    return f"{platform.machine()} {os.cpu_count()} cores, flags: {flags or 'n/a'}, python {platform.python_version()}"
