"""What every part of the catalog build shares: confidence marks, sources, CSV reading."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from registry.model import (
    Confidence,
    Source,
)

C, S, U = Confidence.CONFIRMED, Confidence.SECONDARY, Confidence.UNCONFIRMED


def src(ref: str, confidence: Confidence, as_of: date | None = None) -> Source:
    return Source(ref=ref, confidence=confidence, as_of=as_of)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
