import { useContext, useEffect } from "preact/hooks";
import { AppCtx } from "../ctx";
import { Card, Empty, ErrorBox, Loading, Money, useLoad } from "../ui";
import { BarChart } from "../charts";
import { age, compareDecimal, count, fromNanos, money, percent, subtractDecimal, toNanos } from "../format";
import { addDays, dailySeries, defaultView, hashOfView, nextMonthStart, syncIsStale, todayIn, unusualDays } from "../state";
import type { Forecast, GatewayDay, Group } from "../types";
import type { Bar } from "../charts";
import type { Backend } from "../backend";
import { alertText } from "./budgets";

/** The month's days: spend so far, unusual days marked, then the projection at the current daily rate. */
function dailyBars(groups: Group[], month: string, today: string, forecast: Forecast): Bar[] {
  const first = `${month}-01`;
  const series = dailySeries(groups, first);
  const unusual = unusualDays(series.map((d) => d.cost));
  const bars: Bar[] = series.map((d, i) => ({ label: d.day, value: d.cost, note: `${count(d.requests)} requests`, unusual: unusual[i] }));
  const end = nextMonthStart(month);
  if (forecast.enough_data && forecast.daily_rate) {
    let d = bars.length ? addDays(bars[bars.length - 1].label, 1) : first;
    if (d <= today) d = addDays(today, 1);
    for (; d < end; d = addDays(d, 1)) bars.push({ label: d, value: forecast.daily_rate, projected: true, note: "at the current daily rate" });
  }
  return bars;
}

/** Days in the month `YYYY-MM`. */
function daysIn(month: string): number {
  const [y, m] = month.split("-").map(Number);
  return new Date(Date.UTC(y, m, 0)).getUTCDate();
}

/** A link to the Usage screen filtered to one group of this month. */
function usageLink(today: string, field: "provider" | "operation" | "investigation", key: string): string {
  return hashOfView({ ...defaultView(today), [field]: key, by: field === "provider" ? "model" : "provider" });
}

export function Overview() {
  const { backend, org, info, go } = useContext(AppCtx);
  const today = todayIn(org.timezone);
  const data = useLoad(async () => {
    const status = await backend.budgetStatus(org.slug);
    const from = `${status.month}-01`;
    const to = nextMonthStart(status.month);
    const [forecast, daily, providers, operations, investigations, gateway] = await Promise.all([
      backend.forecast(org.slug, status.month),
      backend.summary(org.slug, from, to, "day"),
      backend.summary(org.slug, from, to, "provider"),
      backend.summary(org.slug, from, to, "operation"),
      backend.summary(org.slug, from, to, "investigation"),
      // A server older than the gateway has no such route: the card is left out.
      backend.gatewayToday(org.slug).catch(() => null),
    ]);
    const atRisk = await budgetsAtRisk(backend, org.slug, status.month);
    return { status, forecast, daily, providers, operations, investigations, gateway, atRisk };
  }, [org.slug]);
  useEffect(() => {
    if (data.data) requestAnimationFrame(() => requestAnimationFrame(() => backend.painted?.()));
  }, [data.data]);
  if (data.loading && !data.data) return <Loading what="the overview" />;
  if (data.error) return <ErrorBox error={data.error} />;
  const { status, forecast, daily, providers, operations, investigations, gateway, atRisk } = data.data!;
  const cur = status.currency;
  const sync = info.sync;
  const top = [...investigations.groups].filter((g) => g.key !== null).sort((a, b) => compareDecimal(b.cost, a.cost)).slice(0, 5);
  const unacked = status.alerts.filter((a) => !a.acknowledged_at);
  return (
    <div class="grid">
      {sync?.server && syncIsStale(sync.last_synced_at, new Date()) ? (
        <div class="banner warn wide" role="status">
          Data last synced from {sync.server} {age(sync.last_synced_at, new Date())}: figures may be behind the server.{" "}
          <button onClick={() => go("sync")}>Sync now</button>
        </div>
      ) : null}
      {status.unpriced_requests > 0 ? (
        <div class="banner warn wide" role="status" data-testid="unpriced-warning">
          {count(status.unpriced_requests)} requests this month have no price (or, priced in another currency, no exchange rate of their day yet): they are not in the spend below. Add the price version or the rates on the{" "}
          <a href="#/prices">Prices</a> screen, then reprice.
        </div>
      ) : null}
      <Card title={`Spend in ${status.month}`}>
        <div class="big">
          <Money amount={status.spent} currency={cur} testid="mtd-spend" />
        </div>
        {status.fx_rates.length > 0 ? (
          <p class="muted" data-testid="fx-used">
            Converted into {cur} at {status.fx_rates.length === 1 ? "the rate" : `${count(status.fx_rates.length)} daily rates`} of{" "}
            {status.fx_rates.length === 1 ? `${status.fx_rates[0].date} (1 ${status.fx_rates[0].from} = ${status.fx_rates[0].rate} ${cur})` : `${status.fx_rates[0].date} to ${status.fx_rates[status.fx_rates.length - 1].date}`}.
          </p>
        ) : null}
        {daily.previous.cost_change_percent !== null ? (
          <p data-testid="month-change">
            <span class={compareDecimal(daily.previous.cost_change_percent, "0") > 0 ? "delta-up" : "delta-down"}>
              {compareDecimal(daily.previous.cost_change_percent, "0") > 0 ? "▲" : "▼"} {percent(daily.previous.cost_change_percent.replace(/^-/, ""))}
            </span>{" "}
            {compareDecimal(daily.previous.cost_change_percent, "0") > 0 ? "more" : "less"} than the {daysIn(status.month)} days before ({money(daily.previous.cost, cur)})
          </p>
        ) : null}
        {status.amount ? (
          <>
            <p>
              of <Money amount={status.amount} currency={cur} testid="budget-amount" /> budget ({percent(status.percent)}),{" "}
              <Money amount={status.remaining} currency={cur} /> left
            </p>
            <div class="meter" role="progressbar" aria-label="spend against budget" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.min(100, Number(status.percent ?? 0))} aria-valuetext={percent(status.percent)}>
              <div style={{ width: `${Math.min(100, Number(status.percent ?? 0))}%` }} class={status.blocked ? "over" : ""} />
            </div>
            {status.blocked ? <p class="bad">Hard limit reached: new calls are refused.</p> : null}
          </>
        ) : (
          <p class="muted">
            No budget for this month. <a href="#/budgets">Set one</a> to get alerts and a projection against it.
          </p>
        )}
      </Card>
      <Card title="Projection to month end">
        {forecast.enough_data && forecast.projected ? (
          <>
            <div class="big">
              <Money amount={forecast.projected} currency={cur} testid="projected" />
            </div>
            {forecast.amount ? (
              <p data-testid="projection-verdict">
                {compareDecimal(forecast.projected, forecast.amount) <= 0 ? (
                  <>Projected to end at {money(forecast.projected, cur)}, <strong class="ok">{money(subtractDecimal(forecast.amount, forecast.projected), cur)} under budget</strong>.</>
                ) : (
                  <>
                    Projected to end at {money(forecast.projected, cur)}, <strong class="bad">{money(subtractDecimal(forecast.projected, forecast.amount), cur)} over budget</strong>
                    {forecast.crosses_on ? <>, crossing it on <strong>{forecast.crosses_on}</strong></> : null}.
                  </>
                )}
              </p>
            ) : null}
            <p class="muted">
              likely between {money(forecast.low, cur)} and {money(forecast.high, cur)}
              {forecast.daily_rate ? <>, at {money(forecast.daily_rate, cur)} a day</> : null}
            </p>
          </>
        ) : (
          <p class="muted">Not enough days of usage yet to project this month.</p>
        )}
      </Card>
      <Card title="Alerts">
        {unacked.length === 0 ? (
          <p class="muted">No open alerts this month.</p>
        ) : (
          <ul class="alerts">
            {unacked.map((a) => (
              <li key={a.id}>
                {a.kind === "threshold" ? <><strong>{a.threshold}%</strong> of the {a.month} budget</> : <strong>{a.kind === "forecast" ? "Forecast" : "Spike"}</strong>}
                {a.scope !== "org" ? <> of {a.scope}</> : null}: {a.kind === "threshold" ? <>reached, {money(a.spent, cur)} of {money(a.amount, cur)}</> : alertText(a)} <a href="#/budgets">acknowledge</a>
              </li>
            ))}
          </ul>
        )}
      </Card>
      {atRisk.length > 0 ? (
        <Card title="Budgets most at risk">
          <ol class="at-risk" data-testid="budgets-at-risk">
            {atRisk.slice(0, 5).map((r) => (
              <li key={r.forecast.scope}>
                <strong>{r.forecast.scope === "org" ? "The organisation" : r.forecast.scope}</strong>: projected {money(r.forecast.projected, cur)} of {money(r.forecast.amount, cur)} ({(Number(r.basisPoints) / 100).toFixed(0)}%)
                {r.forecast.crosses_on ? <>, crossing on {r.forecast.crosses_on}</> : null}
              </li>
            ))}
          </ol>
          <p class="muted"><a href="#/budgets">All budgets</a></p>
        </Card>
      ) : null}
      <Card title="Daily spend" wide>
        <BarChart
          title="Daily spend this month"
          currency={cur}
          bars={dailyBars(daily.groups, status.month, today, forecast)}
          line={status.amount ? { value: fromNanos(toNanos(status.amount) / BigInt(daysIn(status.month))), label: `budget pace, ${money(fromNanos(toNanos(status.amount) / BigInt(daysIn(status.month))), cur)} a day` } : undefined}
        />
        <p class="muted small">
          Solid bars: spend of each day; hollow bars: the projection at the current daily rate{status.amount ? "; dashed line: the daily spend that uses the budget exactly" : ""}; highlighted bars: days of unusual spend (over three times the median day before them).
        </p>
      </Card>
      <Card title="By provider">
        <Breakdown groups={providers.groups} cur={cur} link={(k) => usageLink(today, "provider", k)} />
      </Card>
      {gateway ? (
        <Card title={`Through the gateway today (${gateway.day})`}>
          <GatewayToday day={gateway} />
        </Card>
      ) : null}
      <Card title="By operation">
        <Breakdown groups={operations.groups} cur={cur} link={(k) => usageLink(today, "operation", k)} />
      </Card>
      <Card title="Top investigations">
        {top.length === 0 ? <p class="muted">No usage tied to an investigation this month.</p> : <Breakdown groups={top} cur={cur} link={(k) => usageLink(today, "investigation", k)} />}
      </Card>
    </div>
  );
}

function Breakdown({ groups, cur, link }: { groups: { key: string | null; cost: string; requests: number }[]; cur: string; link: (key: string) => string }) {
  if (groups.length === 0) return <Empty>No usage this month yet.</Empty>;
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col" class="num">Requests</th>
          <th scope="col" class="num">Cost</th>
        </tr>
      </thead>
      <tbody>
        {groups.map((g) => (
          <tr key={g.key ?? "(none)"}>
            <td>{g.key === null ? <span class="muted">(none)</span> : <a href={link(g.key)} title="Show these records on the Usage screen">{g.key}</a>}</td>
            <td class="num">{count(g.requests)}</td>
            <td class="num">
              <Money amount={g.cost} currency={cur} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function GatewayToday({ day }: { day: GatewayDay }) {
  if (day.providers.length === 0) {
    return (
      <Empty>
        No calls through the gateway today. Applications send them to this server's <code>/v1</code> with an ingest token; set where each
        provider's calls go on the <a href="#/providers">Providers</a> screen.
      </Empty>
    );
  }
  return (
    <>
      <p data-testid="gateway-today">
        {count(day.served)} calls served, {count(day.failed_over)} after a failover
      </p>
      <table>
        <thead>
          <tr>
            <th scope="col">Provider</th>
            <th scope="col" class="num">Served</th>
            <th scope="col" class="num">Failed attempts</th>
          </tr>
        </thead>
        <tbody>
          {day.providers.map((p) => (
            <tr key={p.provider}>
              <td>{p.provider}</td>
              <td class="num">{count(p.served)}</td>
              <td class="num">{count(p.failed)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

/**
 * Every budget in force this month with a projection, the organisation's
 * and each scope's, highest projected share of its amount first (exact:
 * basis points from the decimal strings).
 */
async function budgetsAtRisk(backend: Backend, org: string, month: string): Promise<{ forecast: Forecast; basisPoints: bigint }[]> {
  const budgets = await backend.budgets(org);
  const scopes = [...new Set(budgets.map((b) => b.scope))];
  const forecasts = await Promise.all(scopes.map((s) => backend.forecast(org, month, s)));
  return forecasts
    .filter((f) => f.enough_data && f.projected && f.amount && toNanos(f.amount) > 0n)
    .map((f) => ({ forecast: f, basisPoints: (toNanos(f.projected!) * 10000n) / toNanos(f.amount!) }))
    .sort((a, b) => (a.basisPoints < b.basisPoints ? 1 : a.basisPoints > b.basisPoints ? -1 : 0));
}
