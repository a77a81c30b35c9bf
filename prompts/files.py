"""Reading and writing the store's files: version files with front matter, ``prompt.yaml``.

Every parse error names the file, the line and the field. Writes go to a
temporary file that is renamed over the target, so a crash never leaves a
half-written manifest.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ragwright.errors import PromptFileError
from ragwright.prompts.model import Manifest, PromptMeta

__all__ = ["VersionFile", "content_hash", "read_manifest", "read_version", "write_manifest"]

MANIFEST = "prompt.yaml"
M = TypeVar("M", bound=BaseModel)
_FENCE = "---"


@dataclass(frozen=True, slots=True)
class VersionFile:
    path: Path
    meta: PromptMeta
    body: str
    body_line: int  # 1-based line of the template's first line, for error messages
    hash: str


def content_hash(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def split_front_matter(text: str, path: Path) -> tuple[str, str, int]:
    """Return (front matter YAML, template body, body's first line number)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != _FENCE:
        raise PromptFileError(
            "a version file must start with '---' and YAML front matter", path=path, line=1
        )
    for index in range(1, len(lines)):
        if lines[index].strip() == _FENCE:
            return "".join(lines[1:index]), "".join(lines[index + 1 :]), index + 2
    raise PromptFileError("front matter is not closed by a '---' line", path=path, line=1)


def _field_line(yaml_text: str, field: str, offset: int) -> int | None:
    match = re.search(rf"^\s*{re.escape(field)}\s*:", yaml_text, re.MULTILINE)
    return offset + yaml_text[: match.start()].count("\n") if match else None


def _load_yaml(text: str, path: Path, first_line: int) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = first_line + mark.line if mark is not None else first_line
        problem = getattr(exc, "problem", None) or str(exc)
        raise PromptFileError(f"invalid YAML: {problem}", path=path, line=line) from exc


def _validate(model: type[M], data: Any, path: Path, yaml_text: str, first_line: int) -> M:
    if not isinstance(data, dict):
        raise PromptFileError("expected a YAML mapping", path=path, line=first_line)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        top = str(err["loc"][0]) if err["loc"] else ""
        raise PromptFileError(
            err["msg"], path=path, line=_field_line(yaml_text, top, first_line), field=field
        ) from exc


def _stat_key(path: Path, missing: str) -> tuple[Path, int, int]:
    try:
        stat = path.stat()
    except FileNotFoundError as exc:
        raise PromptFileError(missing, path=path) from exc
    return path, stat.st_mtime_ns, stat.st_size


def read_version(path: Path) -> VersionFile:
    """Parse a version file; parsed files are reused until the file's mtime or size changes.

    Rendering happens on every request and every eval case, and parsing YAML front
    matter each time cost milliseconds; ``VersionFile`` is immutable, so sharing is safe.
    """
    return _read_version(*_stat_key(path, "file not found"))


@functools.lru_cache(maxsize=512)
def _read_version(path: Path, mtime_ns: int, size: int) -> VersionFile:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise PromptFileError("file not found", path=path) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PromptFileError(f"not UTF-8 ({exc.reason})", path=path) from exc
    front, body, body_line = split_front_matter(text, path)
    data = _load_yaml(front, path, first_line=2)
    meta = _validate(PromptMeta, data, path, front, first_line=2)
    return VersionFile(path=path, meta=meta, body=body, body_line=body_line, hash=content_hash(raw))


def read_manifest(path: Path, *, copy: bool = True, fresh: bool = False) -> Manifest:
    """Parse ``prompt.yaml`` (cached like version files).

    Callers that change the manifest get their own deep copy; read-only callers on
    the render path pass ``copy=False`` and share the cached object, because a deep
    copy per rendered prompt cost more than the rendering itself. A locked
    read-modify-write passes ``fresh=True``: two writes within the clock's
    granularity can leave mtime and size unchanged, and a cached read there would
    lose the other writer's change.
    """
    if fresh:
        return _parse_manifest(path)
    missing = f"missing {MANIFEST}: every prompt folder needs one"
    manifest = _read_manifest(*_stat_key(path, missing))
    return manifest.model_copy(deep=True) if copy else manifest


@functools.lru_cache(maxsize=256)
def _read_manifest(path: Path, mtime_ns: int, size: int) -> Manifest:
    return _parse_manifest(path)


def _parse_manifest(path: Path) -> Manifest:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PromptFileError(
            f"missing {MANIFEST}: every prompt folder needs one", path=path
        ) from exc
    return _validate(Manifest, _load_yaml(text, path, 1), path, text, first_line=1)


def write_manifest(path: Path, manifest: Manifest) -> None:
    """Atomically replace ``prompt.yaml`` (temp file in the same folder, fsync, rename)."""
    data = manifest.model_dump(mode="json", exclude_none=True)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    fd, tmp = tempfile.mkstemp(prefix=".prompt.", suffix=".yaml.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
