"""Ingest under faults (issue 13): an unreadable folder, and a 50 MB Markdown file.

    .venv/bin/python benchmarks/fault_ingest.py [--mb 50] [--kill-at 0.5] [--skip-huge]

(a) A docs subfolder that cannot be listed: index it, make it unreadable, ingest again.
    As a non-root user the folder is really ``chmod 000``; as root (who reads through
    any mode) ``os.scandir`` of that folder fails with EACCES in-process instead, which
    is what the kernel answers a non-root reader. Prints "documents kept K/K".
(b) One generated Markdown file of ``--mb`` MB, through the real ``ragwright index run``:
    1. default settings: skipped by max_file_bytes (the failure line is printed);
    2. limit raised: SIGKILL when ``--kill-at`` of its chunks are embedded; prints the
       process's peak RSS, the chunks kept, what serves meanwhile, and whether anything
       the killed process started is still alive; then a second run is started and
       killed as soon as it has resumed, printing where it resumed from.

Every figure is printed; nothing is asserted. (b) takes ~15 min on 2 CPU cores at 50 MB.
"""

from __future__ import annotations

import argparse
import errno
import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WORDS = [
    "index",
    "vector",
    "chunk",
    "embedding",
    "prompt",
    "retrieval",
    "answer",
    "cost",
    "budget",
    "schedule",
    "flow",
    "record",
    "version",
    "alias",
    "document",
    "heading",
    "section",
    "token",
    "model",
    "server",
    "cache",
    "latency",
    "gate",
    "judge",
    "quality",
    "release",
    "rollback",
    "deploy",
    "metric",
    "trace",
    "sample",
    "golden",
    "dataset",
    "query",
    "filter",
]


def project(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "ragwright.toml").write_text("# fault_ingest benchmark\n", encoding="utf-8")
    (root / "docs").mkdir()
    return root


def unreadable_folder(work: Path) -> None:
    from ragwright.flows.ingest import ingest
    from ragwright.settings import Settings

    root = project(work / "unreadable")
    private = root / "docs" / "private"
    private.mkdir()
    count = 25
    for i in range(count):
        (private / f"note{i:02}.md").write_text(
            f"# Note {i}\n\nInternal note {i} on the billing flow, owner team {i % 4}.\n",
            encoding="utf-8",
        )
    (root / "docs" / "public.md").write_text("# Public\n\nHello.\n", encoding="utf-8")
    settings = Settings(project_root=root, home=root / ".ragwright", docs_dir=root / "docs")
    first = ingest(settings)
    print(f"(a) indexed {first.docs_new} documents, {count} of them under docs/private")
    if os.geteuid() != 0:
        how = "chmod 000"
        private.chmod(0)
        restore = lambda: private.chmod(0o755)  # noqa: E731
    else:
        how = "os.scandir -> EACCES (running as root, where chmod 000 stops nothing)"
        real = os.scandir

        def scandir(path: Any = ".") -> Any:
            if isinstance(path, str | os.PathLike) and Path(path).resolve() == private.resolve():
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real(path)

        os.scandir = scandir  # type: ignore[assignment]
        restore = lambda: setattr(os, "scandir", real)  # noqa: E731
    try:
        summary = ingest(settings)
    finally:
        restore()
    print(f"    docs/private made unreadable by {how}")
    print(
        f"    docs removed {summary.docs_removed}, chunks deleted {summary.chunks_deleted},"
        f" failures: {[f['path'] + ': ' + f['reason'] for f in summary.failures]}"
    )
    print(f"    documents kept {summary.docs_kept}/{count}")


def write_huge(path: Path, megabytes: int) -> None:
    rng = random.Random(13)
    size, paragraph = 0, 0
    with path.open("w", encoding="utf-8") as out:
        out.write("# Operations handbook\n")
        while size < megabytes * 1_000_000:
            if paragraph % 40 == 0:
                size += out.write(f"\n## Chapter {paragraph // 40}\n\n")
            words = " ".join(rng.choice(WORDS) for _ in range(110))
            size += out.write(f"{words} (paragraph {paragraph}).\n\n")
            paragraph += 1


def cli(root: Path, extra_env: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGWRIGHT_")}
    env.update({"NO_COLOR": "1", "COLUMNS": "200", "PYTHONPATH": str(REPO), **extra_env})
    # A loaded 2-core machine can take longer than Prefect's default 20 s to start its API.
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    return subprocess.Popen(
        [sys.executable, "-m", "ragwright.cli.app", "index", "run"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def staging_row(staging_db: Path) -> tuple[int, int, str] | None:
    if not staging_db.exists():
        return None
    try:
        with sqlite3.connect(staging_db, timeout=1) as conn:
            row = conn.execute(
                "SELECT chunks_staged, chunks_total, updated_at FROM progress"
            ).fetchone()
    except sqlite3.Error:
        return None
    return (int(row[0]), int(row[1]), str(row[2])) if row else None


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            except OSError:
                continue
            if int(ppid) == pid and state != "Z":
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def huge_file(work: Path, megabytes: int, kill_at: float) -> None:
    root = project(work / "huge")
    home = root / ".ragwright"
    huge = root / "docs" / "handbook.md"
    write_huge(huge, megabytes)
    (root / "docs" / "small.md").write_text("# Small\n\nA small page.\n", encoding="utf-8")
    size = huge.stat().st_size
    print(f"\n(b) docs/handbook.md: {size:,} bytes ({size / 2**20:.1f} MiB)")

    started = time.perf_counter()
    default = cli(root, {"RAGWRIGHT_HOME": str(home)})
    output = default.communicate()[0].decode()
    skipped_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"    1. default settings: exit {default.returncode} in"
        f" {time.perf_counter() - started:.0f} s, peak RSS {skipped_peak_mb:.0f} MB"
        " (the model is loaded for docs/small.md)"
    )
    for line in output.splitlines():
        if line.startswith(("skipped", "error")):
            print(f"       {line.strip()}")

    raised = {"RAGWRIGHT_HOME": str(home), "RAGWRIGHT_MAX_FILE_BYTES": str(size + 1)}
    started = time.perf_counter()
    run = cli(root, raised)
    row, shown = None, 0.0
    while run.poll() is None:
        row = staging_row(home / "staging.db")
        if row and row[0] >= kill_at * row[1]:
            break
        if row and time.perf_counter() - shown > 60:
            shown = time.perf_counter()
            print(f"       ... {row[0]:,}/{row[1]:,} chunks embedded", file=sys.stderr, flush=True)
        time.sleep(0.5)
    if run.poll() is not None or row is None:
        print(f"    2. the run ended before it could be killed: {run.stdout.read().decode()}")
        return
    peak_mb = status_kb(run.pid, "VmHWM") / 1024
    helpers = children(run.pid)
    run.send_signal(signal.SIGKILL)
    run.wait()
    elapsed = time.perf_counter() - started
    time.sleep(8)  # the watchdog's poll and the server's shutdown grace
    left = [pid for pid in helpers if alive(pid)]
    staged, total, _ = staging_row(home / "staging.db") or (0, 0, "")
    print(f"    2. max_file_bytes raised to {size + 1:,}: SIGKILL after {elapsed:.0f} s")
    print(f"       peak RSS of `ragwright index run`: {peak_mb:.0f} MB")
    print(f"       chunks kept after SIGKILL at {staged / total:.0%}: {staged:,}/{total:,}")
    print(f"       embedding rate before the kill: {staged / elapsed:.1f} chunks/s (all stages)")
    with sqlite3.connect(home / "index.db") as conn:
        served = conn.execute("SELECT doc_id FROM documents ORDER BY doc_id").fetchall()
    print(f"       documents recorded (and served) meanwhile: {[d for (d,) in served]}")
    print(f"       processes it started still alive 8 s later: {len(left)} of {len(helpers)}")
    for pid in left:
        os.kill(pid, signal.SIGKILL)

    since = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.perf_counter()
    again = cli(root, raised)
    resumed_row = None
    while again.poll() is None:
        resumed_row = staging_row(home / "staging.db")
        if resumed_row and resumed_row[2] >= since:
            break
        time.sleep(0.5)
    again.send_signal(signal.SIGKILL)
    again.wait()
    if resumed_row:
        print(
            f"       rerun resumed at {resumed_row[0]:,}/{resumed_row[1]:,} chunks after"
            f" {time.perf_counter() - started:.0f} s (killed again there)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=50, help="size of the huge file in MB")
    parser.add_argument("--kill-at", type=float, default=0.5, help="share of chunks embedded")
    parser.add_argument("--skip-huge", action="store_true", help="only run (a)")
    args = parser.parse_args()
    from ragwright.offline import apply_offline_defaults, quiet_library_logs

    apply_offline_defaults()
    quiet_library_logs()
    work = Path(tempfile.mkdtemp(prefix="ragwright-faults-"))
    unreadable_folder(work)
    if not args.skip_huge:
        huge_file(work, args.mb, args.kill_at)
    print(f"\nwork folder: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
