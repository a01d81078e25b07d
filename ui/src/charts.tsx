// A bar chart in SVG with the value of each bar on hover (and on keyboard focus).
import { useState } from "preact/hooks";
import { barLength, money } from "./format";

export interface Bar {
  label: string;
  value: string; // a decimal string
  note?: string;
}

export function BarChart({ bars, currency, height = 160, title }: { bars: Bar[]; currency: string; height?: number; title: string }) {
  const [hover, setHover] = useState<number | null>(null);
  if (bars.length === 0) return <p class="muted">No spend in this period yet.</p>;
  const max = bars.reduce((m, b) => (Number(b.value) > Number(m) ? b.value : m), "0");
  const w = 720;
  const bw = w / bars.length;
  const h = hover === null ? null : bars[hover];
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${w} ${height + 20}`} role="img" aria-label={title} preserveAspectRatio="none">
        {bars.map((b, i) => {
          const len = barLength(b.value, max, height);
          return (
            <g key={b.label} onMouseEnter={() => setHover(i)} onMouseLeave={() => setHover(null)} onFocus={() => setHover(i)} onBlur={() => setHover(null)} tabIndex={0}>
              <title>{`${b.label}: ${money(b.value, currency)}`}</title>
              <rect x={i * bw + 1} y={0} width={Math.max(1, bw - 2)} height={height} class="bar-bg" />
              <rect x={i * bw + 1} y={height - len} width={Math.max(1, bw - 2)} height={len} class={hover === i ? "bar-fg hover" : "bar-fg"} />
            </g>
          );
        })}
        <text x={0} y={height + 16} class="axis">{bars[0].label}</text>
        <text x={w} y={height + 16} class="axis" text-anchor="end">{bars[bars.length - 1].label}</text>
      </svg>
      <figcaption class="tooltip" aria-live="polite">
        {h ? `${h.label}: ${money(h.value, currency)}${h.note ? ` (${h.note})` : ""}` : "Hover or focus a bar to see its value"}
      </figcaption>
    </figure>
  );
}
