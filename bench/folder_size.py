"""Disk size of run folders: in all, without checkpoints (model/ folders), and in HTML graphs.

    python bench/folder_size.py data/a2c_gae_cartpole_2026_12_02_133420 [more run folders]

The shared plotly-<version>.min.js at the data dir's root is counted separately (once per data dir).
"""

from __future__ import annotations

import sys
from pathlib import Path


def sizes(folder: Path) -> dict[str, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return {"all": sum(p.stat().st_size for p in files),
            "without_checkpoints": sum(p.stat().st_size for p in files if "model" not in p.relative_to(folder).parts),
            "html": sum(p.stat().st_size for p in files if p.suffix == ".html")}


def main(folders: list[str]) -> None:
    for name in folders:
        folder = Path(name)
        s = sizes(folder)
        shared = sorted(folder.parent.glob("plotly-*.min.js"))
        js = f"; shared {shared[0].name} {shared[0].stat().st_size / 1e6:.2f} MB" if shared else ""
        print(f"{folder}: {s['all'] / 1e6:.2f} MB, without checkpoints {s['without_checkpoints'] / 1e6:.2f} MB, "
              f"HTML {s['html'] / 1e6:.2f} MB{js}")


if __name__ == "__main__":
    main(sys.argv[1:])
