"""Pareto front: the points no other point beats on both cost and latency."""

from __future__ import annotations


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated points (minimising both coordinates), sorted by the first.

    A point is dominated when another is <= on both coordinates and < on at least one. Exact
    duplicates are all kept (neither dominates the other).
    """
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any((a <= x and b <= y) and (a < x or b < y) for j, (a, b) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (points[i][0], points[i][1]))
