"""Learning curves as inline SVG: no plotting library on the request path, and the page stays one document."""

from __future__ import annotations

from markupsafe import Markup, escape

from leaderboard.schema import CurvePoint

WIDTH, HEIGHT = 560, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 28, 28, 40
MAX_PLOTTED_SERIES = 4


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high == low:
        return [low]
    # Interpolated rather than low + (high - low) * t: the difference of two finite floats can overflow.
    return [low * (1 - i / (count - 1)) + high * (i / (count - 1)) for i in range(count)]


def _fraction(value: float, low: float, high: float) -> float:
    """Where ``value`` lies between ``low`` and ``high`` (0..1; 0.5 when they coincide), finite for any finite
    floats: halving first keeps the differences from overflowing."""
    span = high / 2 - low / 2
    return 0.5 if span == 0 else (value / 2 - low / 2) / span


def _label(value: float) -> str:
    """Short tick label: 0.325, 2.56k, 1.2M."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def curve_series(curve: list[CurvePoint]) -> list[str]:
    """Names of the series to plot: ``reward`` first if present, then the others alphabetically (at most 4)."""
    names = sorted({name for point in curve for name in point.series()})
    names.sort(key=lambda name: name != "reward")
    return names[:MAX_PLOTTED_SERIES]


def curve_svg(curve: list[CurvePoint], series: str) -> Markup:
    """One line chart of ``series`` against ``env_steps`` (points without that series are skipped)."""
    points = sorted((point.env_steps, point.series()[series]) for point in curve if series in point.series())
    if not points:
        return Markup("")
    # env_steps may be any 64-bit count: plot them as floats (exact up to 2**53, close enough beyond).
    points = [(float(x), y) for x, y in points]
    xs, ys = [x for x, _ in points], [y for _, y in points]
    x_low, x_high = min(xs), max(xs)
    y_low, y_high = min(ys), max(ys)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + plot_w * _fraction(x, x_low, x_high)

    def sy(y: float) -> float:
        return TOP + plot_h * (1 - _fraction(y, y_low, y_high))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="curve" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(series)} against env steps">',
             f'<text x="{LEFT}" y="18" class="title">{escape(series)}</text>']
    for tick in _ticks(y_low, y_high):
        y = sy(tick)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{_label(tick)}</text>')
    for tick in _ticks(x_low, x_high):
        x = sx(tick)
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" class="tick" text-anchor="middle">'
                     f'{_label(tick)}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" class="axis" text-anchor="middle">'
                 f'env steps</text>')
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="frame"/>')
    path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
    parts.append(f'<polyline points="{path}" class="line"/>')
    if len(points) <= 50:
        parts.extend(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" class="dot"/>' for x, y in points)
    parts.append("</svg>")
    return Markup("".join(parts))
