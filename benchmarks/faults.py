"""Every fault case of the hardening work, each printing its figure (`python benchmarks/faults.py`).

One command for the six cases found by running ragwright as a careless user or an
attacker would; each script also runs alone, with its own options:

* ``fault_promote.py``  concurrent promotions      -> promotions kept K/20
* ``fault_ingest.py``   unreadable folder, 50 MB file -> documents kept, RSS, chunks kept
* ``fault_replies.py``  malformed provider replies -> cases scored, errors counted, cost rows
* ``fault_costs.py``    cost records under load and SIGKILL -> worst loss window (s)
* ``fault_healthz.py``  /healthz under a hung provider -> p99 ms

``--quick`` skips the 50 MB file (about 15 minutes on 2 cores) and shortens the
cost run; the figures in docs/benchmarks.md come from the full run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 50 MB file")
    args = parser.parse_args()
    cases: list[tuple[str, list[str]]] = [
        ("fault_promote.py", []),
        ("fault_ingest.py", ["--skip-huge"] if args.quick else []),
        ("fault_replies.py", []),
        ("fault_costs.py", ["--seconds", "4"] if args.quick else []),
        ("fault_healthz.py", []),
    ]
    failed = []
    for script, extra in cases:
        print(f"\n=== {script} {' '.join(extra)} ===", flush=True)
        started = time.perf_counter()
        code = subprocess.run([sys.executable, str(HERE / script), *extra], check=False).returncode
        print(f"--- {script}: exit {code} in {time.perf_counter() - started:.0f} s", flush=True)
        if code:
            failed.append(script)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
