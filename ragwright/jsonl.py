"""Reading JSONL files of records (golden sets, labels) with errors that name file and line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragwright.errors import InputFileError

__all__ = ["JsonlFile", "read_jsonl"]


@dataclass(frozen=True, slots=True)
class JsonlFile:
    path: Path
    data: bytes  # the exact bytes read, for content hashes
    text: str

    def records(
        self, error: type[InputFileError] = InputFileError
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """(line number, object) for every non-blank line; a bad line raises ``error``."""
        for number, line in enumerate(self.text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise error(
                    f"not valid JSON ({exc.msg}, column {exc.colno})", path=self.path, line=number
                ) from exc
            if not isinstance(record, dict):
                raise error("each line must be a JSON object", path=self.path, line=number)
            yield number, record


def read_jsonl(path: Path, *, what: str, error: type[InputFileError] = InputFileError) -> JsonlFile:
    """Read a UTF-8 JSONL file; missing, directory or non-UTF-8 files raise ``error``."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise error(f"{what} file not found", path=path) from exc
    except IsADirectoryError as exc:
        raise error("is a directory, expected a JSONL file", path=path) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"not UTF-8 (byte offset {exc.start})", path=path) from exc
    return JsonlFile(path, data, text)
