"""Run every benchmark in this folder, one after another (`make bench`).

Each benchmark measures its own baseline in the same run and prints ratios,
because these machines are noisy: compare medians and ratios, not raw seconds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = 0
    for script in sorted(HERE.glob("*.py")):
        if script.name in {"run_all.py", "__init__.py"} or script.name.startswith(("_", "fault_")):
            continue  # the fault_* cases run through faults.py
        print(f"\n=== {script.name} ===", flush=True)
        failed += subprocess.run([sys.executable, str(script)], check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
