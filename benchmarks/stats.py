"""The figures of the benchmark report: medians and spreads of measured runs, their ratios, and how they are printed.

A run is one row of benchmarks/results/size-N.json or narrow-N.json (wall, cpu, server_cpu, peak_rss, output_bytes...
see measure.Bench.measure). Every function takes a list of such rows and answers None (printed "–") when it is empty, so
a contender left out of a run (`--only`) leaves a blank cell rather than an error.
"""

from __future__ import annotations

import statistics


def med(rows, key="wall"):
    values = [r[key] for r in rows or []]
    return statistics.median(values) if values else None


def total_cpu(rows):
    """Median of tree CPU + server CPU: the measure least disturbed by other work on a shared machine."""
    values = [r["cpu"] + r["server_cpu"] for r in rows or []]
    return statistics.median(values) if values else None


def spread(rows, key="wall"):
    values = [r[key] for r in rows]
    return (min(values), max(values)) if values else (None, None)


def cpu_and_wall(rows):
    """(median CPU, median wall) of rows: the pair the targets compare (see ratios)."""
    return total_cpu(rows), med(rows)


def ratios(a, b):
    """(CPU ratio, wall ratio) of a over b; each is a list of rows or a (CPU, wall) pair already computed (a sum)."""
    ca, wa = cpu_and_wall(a) if isinstance(a, list) else a
    cb, wb = cpu_and_wall(b) if isinstance(b, list) else b
    return ca / cb, wa / wb


def fmt_s(value):
    if value is None:
        return "–"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def fmt_mb(value):
    if value is None:
        return "–"
    mb = value / 2**20
    return f"{mb:.1f}" if mb < 100 else f"{mb:.0f}"


def ratio(a, b):
    return f"{a / b:.2f}×" if a is not None and b else "–"
