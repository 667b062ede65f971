"""Real tool output kept verbatim under tests/data/<tool>/, each file named with its public source in SOURCES.md."""

from __future__ import annotations

from pathlib import Path


def assert_every_sample_sourced(data: Path, count: int) -> None:
    """`data` holds `count` .txt samples and SOURCES.md names a github.com source for each."""
    sources = (data / "SOURCES.md").read_text()
    samples = sorted(p.name for p in data.glob("*.txt"))
    assert len(samples) == count
    for name in samples:
        line = next(l for l in sources.splitlines() if f"`{name}`" in l)
        assert "https://github.com/" in line
