"""Numbers as a person reads them: "about 57,000 times worse", "perplexity 38.9 → 2.2 million".

Raw figures stay in JSON; everything a person reads (CLI summary, window, report) goes through
these few functions, so the same number is worded the same way everywhere.
"""

from __future__ import annotations

import math

_SCALES = ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"))


def plain(x: float, digits: int = 3) -> str:
    """A value to about `digits` significant figures: 38.9, 2,980, 2.2 million, 0.0014."""
    if math.isnan(x):
        return "not measured"
    if math.isinf(x):
        return "infinite"
    if x < 0:
        return "−" + plain(-x, digits)
    for scale, word in _SCALES:
        if x >= scale:
            return f"{_sig(x / scale, 2)} {word}"
    if x >= 10 ** (digits - 1):
        return f"{round(x):,}"
    return _sig(x, digits)


def _sig(x: float, digits: int) -> str:
    if x == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    text = f"{x:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def times(ratio: float) -> str:
    """How much worse a ratio is: "about 57,000 times worse", "19% higher", "0.4% higher", "the same"."""
    if math.isnan(ratio):
        return "not measured"
    if ratio >= 2:
        about = _sig(ratio, 2) if ratio < 100 else plain(float(f"{ratio:.2g}"), 2)
        return f"about {about} times worse"
    change = (ratio - 1) * 100
    if abs(change) < 0.05:
        return "the same"
    word = "higher" if change > 0 else "lower"
    return f"{_sig(abs(change), 2)}% {word}"


def perplexity_change(before: float, after: float) -> str:
    """ "perplexity 38.9 → 2.2 million (about 57,000 times worse)"."""
    return f"perplexity {plain(before)} → {plain(after)} ({times(after / before if before else math.inf)})"


def percent(fraction: float) -> str:
    """A share as a whole-number percentage, with a decimal only where it matters (99.6%, 0.4%)."""
    if math.isnan(fraction):
        return "not measured"
    p = fraction * 100
    if 0 < p < 1 or 99 < p < 100:
        return f"{p:.1f}%"
    return f"{round(p)}%"
