"""Cost reports as data: CSV rows, JSON, and a self-contained HTML chart of daily spend."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from dataclasses import asdict, fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from ragwright.costs.store import GroupStats

__all__ = ["parse_when", "to_csv", "to_json", "usd", "write_daily_chart"]

_DAYS_AGO = re.compile(r"(\d+)d")


def parse_when(text: str, now: datetime | None = None) -> str:
    """A report bound as the store compares it (ISO text, UTC); ValueError when not a date.

    Accepts an ISO date or date-time, ``today``, ``yesterday`` and ``Nd`` (the start of
    the day N days ago). ``--since yesterday`` once matched nothing, silently: the store
    compared the word with timestamps as text.
    """
    now = now or datetime.now(UTC)
    word = text.strip().lower()
    midnight = datetime.combine(now.date(), datetime.min.time(), UTC)
    if word == "today":
        return midnight.isoformat()
    if word == "yesterday":
        return (midnight - timedelta(days=1)).isoformat()
    if match := _DAYS_AGO.fullmatch(word):
        return (midnight - timedelta(days=int(match.group(1)))).isoformat()
    try:
        if len(word) == 10:
            return datetime.combine(date.fromisoformat(word), datetime.min.time(), UTC).isoformat()
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"'{text}' is not a date: use YYYY-MM-DD, an ISO date-time, today, yesterday or 7d"
        ) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def usd(value: float | None) -> str:
    """Dollars with the digits that matter: 0.0003 stays 0.0003 (it printed as 0.00)."""
    if value is None:
        return "unknown"
    if value == 0 or abs(value) >= 1:
        return f"{value:.2f}"
    digits = f"{value:.6f}".rstrip("0")
    return digits if len(digits.split(".")[1]) >= 2 else f"{value:.2f}"


def to_json(groups: list[GroupStats]) -> str:
    return json.dumps([asdict(g) for g in groups], indent=2)


def to_csv(groups: list[GroupStats]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[f.name for f in fields(GroupStats)])
    writer.writeheader()
    for group in groups:
        writer.writerow(asdict(group))
    return buffer.getvalue()


_COLOURS = ("#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#1b7c83", "#e16f24")


def write_daily_chart(daily: dict[str, dict[str, float]], path: Path) -> Path:
    """Stacked bars of spend per day and model, as one HTML file with inline SVG."""
    days = sorted(daily)
    models = sorted({m for per_day in daily.values() for m in per_day})
    top = max((sum(daily[d].values()) for d in days), default=0.0) or 1.0
    bar, gap, height = 28, 10, 240
    width = max(1, len(days)) * (bar + gap) + 80
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 60}">']
    for i, day in enumerate(days):
        x, y = 60 + i * (bar + gap), float(height)
        for j, model in enumerate(models):
            spend = daily[day].get(model, 0.0)
            h = spend / top * height
            y -= h
            parts.append(
                f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}"'
                f' fill="{_COLOURS[j % len(_COLOURS)]}"><title>{html.escape(day)}'
                f" {html.escape(model)}: ${spend:.4f}</title></rect>"
            )
        parts.append(
            f'<text x="{x}" y="{height + 14}" font-size="9"'
            f' transform="rotate(45 {x} {height + 14})">{html.escape(day)}</text>'
        )
    parts.append(
        f'<text x="0" y="12" font-size="11">${top:.4f}</text>'
        f'<text x="0" y="{height}" font-size="11">$0</text></svg>'
    )
    legend = "".join(
        f'<li><span style="color:{_COLOURS[j % len(_COLOURS)]}">■</span> {html.escape(m)}</li>'
        for j, m in enumerate(models)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "<!doctype html><meta charset='utf-8'><title>ragwright daily spend</title>"
        "<body style='font:14px system-ui'><h1>Daily spend per model (USD, known prices)</h1>"
        f"{''.join(parts)}<ul>{legend}</ul></body>",
        encoding="utf-8",
    )
    return path
