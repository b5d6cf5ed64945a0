"""Impact reports as CSV (one row per changed decision) for spreadsheets and auditors."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

COLUMNS = (
    "source",
    "change",
    "tenant",
    "target",
    "model",
    "at",
    "base_allow",
    "candidate_allow",
    "codes_added",
    "codes_removed",
    "base_codes",
    "candidate_codes",
    "base_obligations",
    "candidate_obligations",
    "decision_id",
    "count",
)


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def to_csv(report: Mapping[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for change in report.get("changes", []):
        writer.writerow([_cell(change.get(col)) for col in COLUMNS])
    return out.getvalue()
