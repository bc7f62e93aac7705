"""Quote a benchmark figure to the precision its noise allows (benches/README.md, "Precision").

Several reps of one figure are quoted as `median [min–max]`. The spread sets the precision:
the bounds are rounded to 2 significant digits of the half-range (max − min)/2, and the
median to one digit less (the place of the half-range's leading digit), since its last digit
is already uncertain by that much. 186 with reps 175…199 (± 12) is quoted "190 [175–199]".
Never finer than the caller's default decimals (the median; the bounds one more): reps that
agree closely do not make a figure more precise than that. One value (one rep, or all but one
excluded), or reps that agree exactly, are quoted with the caller's default decimals.
"""

from __future__ import annotations

import math
import statistics


def _num(v: float, decimals: int) -> str:
    """`v` with `decimals` decimals (negative: rounded to tens, hundreds, …), thousands spaced."""
    if decimals < 0:
        v, decimals = round(v, decimals), 0
    return f"{v:,.{decimals}f}".replace(",", " ")


def quote(vals: list[float | None], digits: int = 0) -> str:
    """The median of `vals` (None ignored), with `[min–max]` when there are several, rounded
    by the spread rule above; "–" when there is nothing to quote."""
    vals = [v for v in vals if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return "–"
    med = statistics.median(vals)
    if len(vals) == 1:
        return _num(med, digits)
    lo, hi = min(vals), max(vals)
    half = (hi - lo) / 2
    if half <= 0:
        return f"{_num(med, digits)} [{_num(lo, digits)}–{_num(hi, digits)}]"
    # the median to the place of the half-range's leading digit, never finer than `digits`
    # (reps that agree closely do not make a figure more meaningful than its default precision)
    places = min(-math.floor(math.log10(half)), digits)
    return f"{_num(med, places)} [{_num(lo, places + 1)}–{_num(hi, places + 1)}]"


if __name__ == "__main__":  # the documented example, and a few more
    assert quote([175, 186, 199]) == "190 [175–199]", quote([175, 186, 199])
    assert quote([5.31, 5.46, 5.62], 2) == "5.5 [5.31–5.62]", quote([5.31, 5.46, 5.62], 2)
    assert quote([64.1]) == "64", quote([64.1])
    assert quote([40123, 41987, 39876]) == "40 000 [39 900–42 000]", quote([40123, 41987, 39876])
    assert quote([None]) == "–"
    assert quote([0.252962, 0.253047], 2) == "0.25 [0.253–0.253]", quote([0.252962, 0.253047], 2)
    print("ok")
