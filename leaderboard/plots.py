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
    return [low + (high - low) * i / (count - 1) for i in range(count)]


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
    xs, ys = [x for x, _ in points], [y for _, y in points]
    x_low, x_high = min(xs), max(xs)
    y_low, y_high = min(ys), max(ys)
    if y_high == y_low:
        y_low, y_high = y_low - 0.5, y_high + 0.5
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + (plot_w * (x - x_low) / (x_high - x_low) if x_high > x_low else plot_w / 2)

    def sy(y: float) -> float:
        return TOP + plot_h * (1 - (y - y_low) / (y_high - y_low))

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
