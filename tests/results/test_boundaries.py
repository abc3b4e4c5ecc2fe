"""Group-sequential boundaries: Pocock's published constants, and the sign-flip floor."""

from __future__ import annotations

import pytest

from autoablation._results.boundaries import efficacy_boundary, pocock_level


@pytest.mark.parametrize(
    ("looks", "level"),
    # Pocock (1977), Table 1; Jennison & Turnbull (2000), Table 2.1: nominal two-sided levels
    # for K equally spaced looks at an overall alpha of 0.05.
    [(2, 0.0294), (3, 0.0221), (4, 0.0182), (5, 0.0158), (10, 0.0106)],
)
def test_pocock_levels_match_the_published_tables(looks: int, level: float) -> None:
    assert pocock_level(tuple(range(1, looks + 1)), 0.05) == pytest.approx(level, abs=5e-5)


def test_one_look_spends_alpha_and_unequal_looks_still_spend_it() -> None:
    assert pocock_level((10,), 0.01) == 0.01
    nominal = pocock_level((6, 8, 10, 12, 14, 16), 0.005)
    assert 0.005 / 6 < nominal < 0.005  # between Bonferroni over the looks and one look


def test_looks_the_exact_test_cannot_use_spend_nothing() -> None:
    # 10 components at alpha 0.05: 0.005 each. A sign-flip test of 8 repeats cannot go under
    # 2/256 = 0.0078, so the looks at 6 and 8 are left out and the level is Pocock's of 10..16.
    first, level = efficacy_boundary((6, 8, 10, 12, 14, 16), 0.005)
    assert first == 10 and level == pytest.approx(pocock_level((10, 12, 14, 16), 0.005))
    assert level >= 2 / 2**10


def test_a_design_whose_last_look_cannot_reach_its_level_is_refused() -> None:
    with pytest.raises(ValueError, match=r"needs at least 9 paired repeats.*last look is at 8"):
        efficacy_boundary((4, 6, 8), 0.005)
    with pytest.raises(ValueError, match="increasing"):
        pocock_level((6, 6), 0.05)
