"""Confidence intervals against tabulated Student-t quantiles and closed forms."""

import math

import numpy as np
import pytest

from metarl.stats import mean_ci95, summarize_curve, t_quantile_975


@pytest.mark.parametrize(
    ("dof", "expected"),
    [
        (1, 12.7062),
        (2, 4.3027),
        (3, 3.1824),
        (5, 2.5706),
        (10, 2.2281),
        (30, 2.0423),
        (100, 1.9840),
        (10_000, 1.9602),
    ],
)
def test_t_quantiles_match_tables(dof, expected):
    assert t_quantile_975(dof) == pytest.approx(expected, abs=2e-3)


def test_mean_ci95_is_t_times_standard_error():
    values = np.array([1.0, 2.0, 4.0, 7.0])
    mean, ci = mean_ci95(values)
    assert mean == pytest.approx(3.5)
    sem = values.std(ddof=1) / math.sqrt(4)
    assert ci == pytest.approx(3.1824 * sem, rel=1e-3)
    assert mean_ci95([5.0]) == (5.0, 0.0)


def test_summarize_curve_is_per_step():
    per_task = np.array([[1.0, 0.0], [3.0, 0.0]])
    summary = summarize_curve(per_task)
    assert summary["mean"] == [2.0, 0.0]
    assert summary["ci95"][1] == 0.0 and summary["ci95"][0] > 0
