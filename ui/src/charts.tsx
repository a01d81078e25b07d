// A bar chart in SVG: a y-axis, optional reference line (a budget's daily
// pace) and projected bars, unusual bars highlighted. The bars are one tab
// stop; the arrow keys (and Home, End) move between them, and the value of
// the focused or hovered bar is read out below the chart.
import { useRef, useState } from "preact/hooks";
import { barLength, money, niceCeiling } from "./format";

export interface Bar {
  label: string;
  value: string; // a decimal string
  note?: string;
  /** A projection, drawn hollow. */
  projected?: boolean;
  /** Highlighted as unusual. */
  unusual?: boolean;
}

export function BarChart({ bars, currency, height = 160, title, line }: { bars: Bar[]; currency: string; height?: number; title: string; line?: { value: string; label: string } }) {
  const [hover, setHover] = useState<number | null>(null);
  const [active, setActive] = useState(0);
  const refs = useRef<(SVGGElement | null)[]>([]);
  if (bars.length === 0) return <p class="muted">No spend in this period yet.</p>;
  // The scale's top: a round number above the largest bar and the line (drawing only).
  const top = niceCeiling(Math.max(...bars.map((b) => Number(b.value)), line ? Number(line.value) : 0));
  const max = String(top);
  const left = 56;
  const w = 720;
  const bw = (w - left) / bars.length;
  const h = hover === null ? null : bars[hover];
  const ticks = [0, top / 2, top];
  const y = (v: number) => height - Math.round((v / top) * height);
  const focus = (i: number) => {
    const j = Math.max(0, Math.min(bars.length - 1, i));
    setActive(j);
    refs.current[j]?.focus();
  };
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${w} ${height + 20}`} role="group" aria-label={`${title}: ${bars.length} bars; use the arrow keys to move between them`} preserveAspectRatio="none">
        {ticks.map((t) => (
          <g key={t} aria-hidden="true">
            <line x1={left} x2={w} y1={y(t)} y2={y(t)} class="grid-line" />
            <text x={left - 4} y={Math.max(10, y(t) + 4)} class="axis" text-anchor="end">{money(String(t), currency, t < 10 ? 2 : 0)}</text>
          </g>
        ))}
        {bars.map((b, i) => {
          const len = barLength(b.value, max, height);
          const cls = ["bar-fg", hover === i ? "hover" : "", b.projected ? "projected" : "", b.unusual ? "unusual" : ""].filter(Boolean).join(" ");
          return (
            <g
              key={b.label}
              ref={(el) => { refs.current[i] = el; }}
              role="img"
              aria-label={`${b.label}: ${money(b.value, currency)}${b.projected ? " (projected)" : ""}${b.unusual ? " (unusual)" : ""}${b.note ? `, ${b.note}` : ""}`}
              tabIndex={i === active ? 0 : -1}
              onMouseEnter={() => setHover(i)}
              onMouseLeave={() => setHover(null)}
              onFocus={() => { setHover(i); setActive(i); }}
              onBlur={() => setHover(null)}
              onKeyDown={(e) => {
                const to = e.key === "ArrowRight" || e.key === "ArrowDown" ? i + 1 : e.key === "ArrowLeft" || e.key === "ArrowUp" ? i - 1 : e.key === "Home" ? 0 : e.key === "End" ? bars.length - 1 : null;
                if (to !== null) {
                  e.preventDefault();
                  focus(to);
                }
              }}
            >
              <title>{`${b.label}: ${money(b.value, currency)}`}</title>
              <rect x={left + i * bw + 1} y={0} width={Math.max(1, bw - 2)} height={height} class="bar-bg" />
              <rect x={left + i * bw + 1} y={height - len} width={Math.max(1, bw - 2)} height={len} class={cls} />
            </g>
          );
        })}
        {line ? (
          <g aria-hidden="true">
            <line x1={left} x2={w} y1={y(Number(line.value))} y2={y(Number(line.value))} class="pace-line" />
            <text x={left + 4} y={Math.max(10, y(Number(line.value)) - 4)} class="axis">{line.label}</text>
          </g>
        ) : null}
        <text x={left} y={height + 16} class="axis" aria-hidden="true">{bars[0].label}</text>
        <text x={w} y={height + 16} class="axis" text-anchor="end" aria-hidden="true">{bars[bars.length - 1].label}</text>
      </svg>
      <figcaption class="tooltip" aria-live="polite">
        {h ? `${h.label}: ${money(h.value, currency)}${h.projected ? " (projected)" : ""}${h.unusual ? " (unusual)" : ""}${h.note ? ` (${h.note})` : ""}` : "Hover a bar, or focus the chart and use the arrow keys, to see a day's value"}
      </figcaption>
    </figure>
  );
}
