// A small hand-written SVG bar chart of a month's daily spend (no library, no inline styles).
import { html, useEffect, useRef, useState } from "../vendor/imports.js";
import { daysInMonth, formatCents, formatInt } from "../format.js";

const DEFAULT_WIDTH = 760;
const HEIGHT = 240;
const PAD = { top: 16, right: 12, bottom: 30, left: 64 };

/** The element's width in CSS pixels, so the chart draws in real pixels (text stays readable). */
function useWidth(fallback) {
  const ref = useRef(null);
  const [width, setWidth] = useState(fallback);
  useEffect(() => {
    const element = ref.current;
    if (!element || typeof ResizeObserver === "undefined") return undefined;
    const observer = new ResizeObserver(([entry]) => {
      const measured = Math.round(entry.contentRect.width);
      if (measured > 0) setWidth(measured);
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return [width, ref];
}

/** A round upper bound for the axis: 1, 2 or 5 times a power of ten, in cents. */
function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

/** Axis labels in one unit: cents below a dollar, dollars from there. */
function axisLabel(cents, max) {
  if (max >= 100) return formatCents(cents);
  return `${Number(cents.toFixed(6))} ¢`;
}

export function DailySpendChart({ month, days }) {
  const [measured, ref] = useWidth(DEFAULT_WIDTH);
  const width = Math.max(280, measured);
  const count = daysInMonth(month);
  const byDay = new Map(days.map((d) => [Number(d.day.slice(8, 10)), d]));
  const max = niceMax(Math.max(0, ...days.map((d) => Number(d.cost_cents))));
  const plotW = width - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotW / count;
  const barW = Math.max(2, slot * 0.68);
  const y = (cents) => PAD.top + plotH - (Number(cents) / max) * plotH;
  const ticks = [0, max / 2, max];
  const every = width < 480 ? [1, 10, 20, count] : [1, 5, 10, 15, 20, 25, count];
  const labelDays = every.filter((d, i, all) => all.indexOf(d) === i && d <= count);
  const total = days.reduce((sum, d) => sum + Math.round(Number(d.cost_cents) * 1e6), 0) / 1e6;
  const summary = days.length
    ? `Daily spend in ${month}: ${days.length} day(s) with usage, ${formatCents(total)} in all.`
    : `No usage in ${month}.`;

  return html`<figure class="chart" ref=${ref}>
    <svg viewBox=${`0 0 ${width} ${HEIGHT}`} role="img" aria-label=${summary} data-testid="daily-chart">
      ${ticks.map((tick) => html`<g class="grid">
        <line x1=${PAD.left} x2=${width - PAD.right} y1=${y(tick)} y2=${y(tick)} />
        <text x=${PAD.left - 8} y=${y(tick) + 4} text-anchor="end">${axisLabel(tick, max)}</text>
      </g>`)}
      ${labelDays.map((day) => html`<text class="axis-label" x=${PAD.left + slot * (day - 0.5)} y=${HEIGHT - 8}
        text-anchor="middle">${day}</text>`)}
      ${[...byDay.entries()].map(([day, d]) => {
        const cost = Number(d.cost_cents);
        const x = PAD.left + slot * (day - 1) + (slot - barW) / 2;
        const title = `${d.day}: ${formatCents(cost)} · ${formatInt(d.requests)} request(s)`;
        // A day with requests but no cost (free models) still shows, as a point on the axis.
        return cost > 0
          ? html`<rect class="bar" data-day=${d.day} x=${x} y=${y(cost)} width=${barW}
              height=${Math.max(1, PAD.top + plotH - y(cost))} rx="2"><title>${title}</title></rect>`
          : html`<circle class="point" data-day=${d.day} cx=${x + barW / 2} cy=${PAD.top + plotH} r="3"><title>${title}</title></circle>`;
      })}
    </svg>
    <figcaption class="muted small">${summary} Days of the month (UTC) across, spend up; hover a bar for its figures.</figcaption>
  </figure>`;
}
