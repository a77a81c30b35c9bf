"""Is a published version still what was published: its file, and every version it includes?

Publishing records a version's content hash in ``prompt.yaml``, and the hashes of
the versions it includes, extends or imports (``VersionRecord.includes``): an
include shapes the output without changing the including file, so freezing only
the file would let a published version change silently. Serving, promotion,
rollback and lint all ask :func:`verify_published`; it compares hashes of files
that :func:`~ragwright.prompts.files.read_version` caches by mtime and size, so
the check costs a string comparison per render.
"""

from __future__ import annotations

from pathlib import Path

from ragwright.errors import PromptError, PromptFileError, PromptIntegrityError
from ragwright.prompts.files import VersionFile, read_version
from ragwright.prompts.model import PromptRef, VersionRecord

__all__ = ["verify_published"]


def verify_published(ref: str, file: VersionFile, record: VersionRecord, root: Path) -> None:
    """Raise :class:`PromptIntegrityError` unless ``file`` and its includes hash as recorded.

    ``ref`` is ``name@version``; ``root`` is the store layer the version lives in
    (includes never leave their layer).
    """
    name, _, version = ref.partition("@")
    if file.hash != record.hash:
        raise PromptIntegrityError(
            f"{file.path}: {ref} was edited after publishing (recorded hash"
            f" {record.hash[:19]}..., file has {file.hash[:19]}...). Published versions are"
            f" immutable: restore it with `git checkout -- {file.path}` and create a new"
            f" version with `ragwright prompts new {name} --from {version}`"
        )
    for included, expected in (record.includes or {}).items():
        try:
            target = PromptRef.parse(included)
        except PromptError as exc:
            raise PromptIntegrityError(
                f"{ref}: prompt.yaml records an include '{included}' that is not NAME@vN"
            ) from exc
        path = root / target.name / f"{target.version}.jinja2"
        try:
            actual = read_version(path).hash
        except PromptFileError as exc:
            raise PromptIntegrityError(
                f"{path}: {included}, included by {ref}, is unreadable ({exc.detail});"
                f" restore it with `git checkout -- {path}`"
            ) from exc
        if actual != expected:
            raise PromptIntegrityError(
                f"{path}: {included}, included by {ref}, changed after {ref} was published"
                f" (recorded hash {expected[:19]}..., file has {actual[:19]}...); restore it"
                f" with `git checkout -- {path}` and create a new version instead"
            )
