#!/usr/bin/env bash
# Wheels of the lab's pure-Python (and manylinux) dependencies for the accelerator machine, which
# has Python 3.12 and its own CUDA torch but no network. Run here, in the repo root; then on the
# device: python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl &&
#          PYTHONPATH=/tmp/site:. python3 bench/device_check.py
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
# what bench/device_check.py imports on the session path (torch, numpy, pandas come with the machine)
for pkg in gymnasium==1.4.0 ale-py==0.12.1 pydantic==2.14.4 pydantic-core typing-inspection annotated-types \
           typer==0.29.2 rich==15.0.0 click shellingham markdown-it-py mdurl pygments cloudpickle farama-notifications \
           opencv-python-headless==5.0.0.93; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform any -d .whl "$pkg"
done
du -sh .whl
