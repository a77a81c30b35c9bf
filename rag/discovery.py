"""Find the files to ingest under the docs folder, and say what could not be looked at.

A plain ``rglob`` got three things wrong, each found by running an ingest:

* a folder that cannot be listed (permissions, a stale network mount) silently
  yielded nothing, so its documents looked deleted and left the index. Here it is
  reported and listed in :attr:`Scan.unreadable`; the indexer keeps every record
  under it, unchanged;
* a symlink was followed wherever it pointed, so ``docs/x.md -> /etc/passwd`` was
  indexed and served. Here a link (file or folder) that resolves outside the docs
  folder is refused, unread, unless ``follow_symlinks`` is on;
* a file of any size was read whole. Here files over ``max_file_bytes`` are
  skipped, unread, with their size and the setting in the failure line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ragwright.rag.documents import LoadFailure
from ragwright.rag.loaders import SUPPORTED_SUFFIXES

__all__ = ["Scan", "discover", "scan"]

MIB = 1024 * 1024


@dataclass
class Scan:
    """What a walk of the docs folder found."""

    files: list[Path] = field(default_factory=list)
    failures: list[LoadFailure] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    """Paths relative to the docs folder ("" = the folder itself) that could not be
    listed or examined: records of documents at or under them must be kept."""
    seen: int = 0
    """Supported files found, including those skipped (too large, refused links)."""


def scan(root: Path, *, follow_symlinks: bool = False, max_file_bytes: int | None = None) -> Scan:
    """Supported files under ``root``, sorted; hidden files and folders skipped."""
    walker = _Walker(root, follow_symlinks, max_file_bytes)
    walker.walk(root, "")
    walker.result.files.sort()
    return walker.result


def discover(root: Path) -> list[Path]:
    """The files :func:`scan` would ingest with default settings (tests, benchmarks)."""
    return scan(root).files


class _Walker:
    def __init__(self, root: Path, follow_symlinks: bool, max_file_bytes: int | None) -> None:
        self.root_real = root.resolve()
        self.follow = follow_symlinks
        self.max_bytes = max_file_bytes
        self.result = Scan()
        self.visited: set[tuple[int, int]] = set()  # (device, inode): symlinked folders loop

    def unreadable(self, rel: str, what: str, exc: OSError) -> None:
        self.result.unreadable.append(rel)
        self.result.failures.append(
            LoadFailure(
                rel or ".",
                f"{what} could not be read ({exc.strerror or exc}); unreadable, kept:"
                " its documents stay in the index unchanged",
            )
        )

    def walk(self, folder: Path, rel: str) -> None:
        try:
            stat = folder.stat()
            if (stat.st_dev, stat.st_ino) in self.visited:
                return
            self.visited.add((stat.st_dev, stat.st_ino))
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            self.unreadable(rel, "folder", exc)
            return
        for entry in entries:
            if not entry.name.startswith("."):
                self.visit(entry, f"{rel}/{entry.name}" if rel else entry.name)

    def visit(self, entry: os.DirEntry[str], rel: str) -> None:
        path = Path(entry.path)
        try:
            if entry.is_symlink() and not self.link_allowed(path, rel):
                return
            if entry.is_symlink() and not path.exists():
                self.refuse(rel, "broken symlink (its target does not exist); not indexed")
                return
            if entry.is_dir():  # follows an allowed link
                self.walk(path, rel)
                return
            if not entry.is_file() or path.suffix.lower() not in SUPPORTED_SUFFIXES:
                return
            size = entry.stat().st_size
        except OSError as exc:
            self.unreadable(rel, "path", exc)
            return
        self.result.seen += 1
        if self.max_bytes is not None and size > self.max_bytes:
            self.result.failures.append(
                LoadFailure(
                    rel,
                    f"file is {size:,} bytes ({size / MIB:.1f} MiB), over max_file_bytes ="
                    f" {self.max_bytes:,} ({self.max_bytes / MIB:.1f} MiB); not read."
                    " Raise max_file_bytes (RAGWRIGHT_MAX_FILE_BYTES) to index it",
                )
            )
            return
        self.result.files.append(path)

    def link_allowed(self, path: Path, rel: str) -> bool:
        """A link that stays inside the docs folder is fine; one that leaves it is refused."""
        try:
            target = path.resolve()
        except RuntimeError:  # Python 3.11 reports a link loop this way
            self.refuse(rel, "symlink loop; not indexed")
            return False
        if self.follow or target.is_relative_to(self.root_real):
            return True
        self.refuse(
            rel,
            f"symlink to {target}, outside the docs folder; refused, nothing read"
            " (set follow_symlinks = true to index it)",
        )
        return False

    def refuse(self, rel: str, reason: str) -> None:
        """Report ``rel`` and drop what it held: there is nothing there to keep serving."""
        self.result.seen += Path(rel).suffix.lower() in SUPPORTED_SUFFIXES
        self.result.failures.append(LoadFailure(rel, reason, keep=False))
