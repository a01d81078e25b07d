import { useContext, useMemo, useState } from "preact/hooks";
import { AppCtx } from "../ctx";
import { Empty, ErrorBox, Loading, Money, useLoad } from "../ui";
import { count, dateTime } from "../format";
import { DIMENSIONS, Filters, Pager, drillDown, filterQuery, noFilters, recordQuery } from "../state";

const PAGE = 100;
const FIELDS = ["from", "to", "provider", "model", "operation", "investigation", "investigation_contains", "user"] as const;
const LABELS: Record<string, string> = { investigation_contains: "investigation contains" };

export function Explorer() {
  const { backend, org } = useContext(AppCtx);
  const today = new Date().toISOString().slice(0, 10);
  const start = `${today.slice(0, 7)}-01`;
  const [draft, setDraft] = useState<Filters>(noFilters(start));
  const [filters, setFilters] = useState<Filters>(draft);
  const [by, setBy] = useState<string>("provider");
  const pager = useMemo(() => new Pager(), []);
  const [cursor, setCursor] = useState<number | null>(null);
  const apply = (f: Filters) => {
    setDraft(f);
    setFilters(f);
    pager.reset();
    setCursor(null);
  };
  // Totals and groups obey the filters, as the records below do.
  const summary = useLoad(() => backend.summary(org.slug, filters.from || undefined, filters.to || undefined, by, filterQuery(filters)), [org.slug, filters, by]);
  const records = useLoad(() => backend.records(org.slug, recordQuery(filters, cursor, PAGE)), [org.slug, filters, cursor]);
  const cur = org.currency;
  return (
    <div>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          apply(draft);
        }}
      >
        {FIELDS.map((k) => (
          <label key={k}>
            {LABELS[k] ?? k}
            <input
              name={k}
              value={draft[k] ?? ""}
              placeholder={k === "from" || k === "to" ? "YYYY-MM-DD" : k === "investigation_contains" ? "a part, any case" : "any"}
              onInput={(e) => setDraft({ ...draft, [k]: (e.target as HTMLInputElement).value })}
            />
          </label>
        ))}
        <label>
          group by
          <select name="by" value={by} onChange={(e) => setBy((e.target as HTMLSelectElement).value)}>
            {DIMENSIONS.map((d) => (
              <option key={d} value={d}>{d}</option>
            ))}
          </select>
        </label>
        <button type="submit">Apply</button>
        <button type="button" class="secondary" onClick={() => apply(noFilters(start))}>
          Reset
        </button>
      </form>
      <ErrorBox error={summary.error} />
      {summary.data ? (
        <section aria-label="groups">
          <h2>
            {count(summary.data.requests)} requests, <Money amount={summary.data.cost} currency={cur} testid="explorer-total" />
            {summary.data.unpriced_requests > 0 ? <span class="warn-text"> ({count(summary.data.unpriced_requests)} unpriced, not in the cost)</span> : null}
          </h2>
          {summary.data.groups.length === 0 ? (
            <Empty>Nothing matches these filters. Widen the period or clear a filter.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">{by}</th>
                  <th scope="col" class="num">Requests</th>
                  <th scope="col" class="num">Input tokens</th>
                  <th scope="col" class="num">Output tokens</th>
                  <th scope="col" class="num">Cost</th>
                  <th scope="col" class="num">Unpriced</th>
                </tr>
              </thead>
              <tbody>
                {summary.data.groups.map((g) => (
                  <tr key={g.key ?? "(none)"}>
                    <td>
                      {g.key === null ? (
                        <span class="muted">(none)</span>
                      ) : (
                        <button class="link" title="Show only these records" onClick={() => apply(drillDown(filters, by, g.key))}>
                          {g.key}
                        </button>
                      )}
                    </td>
                    <td class="num">{count(g.requests)}</td>
                    <td class="num">{count(g.input_tokens)}</td>
                    <td class="num">{count(g.output_tokens)}</td>
                    <td class="num"><Money amount={g.cost} currency={cur} /></td>
                    <td class="num">{count(g.unpriced_requests)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      ) : summary.loading ? <Loading what="totals" /> : null}
      <section aria-label="records">
        <h2>Records (page {pager.page})</h2>
        <ErrorBox error={records.error} />
        {records.data ? (
          records.data.records.length === 0 ? (
            <Empty>No records on this page.</Empty>
          ) : (
            <table class="records">
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Provider / model</th>
                  <th scope="col">Operation</th>
                  <th scope="col">Investigation</th>
                  <th scope="col">User</th>
                  <th scope="col" class="num">In</th>
                  <th scope="col" class="num">Out</th>
                  <th scope="col" class="num">Cost</th>
                </tr>
              </thead>
              <tbody>
                {records.data.records.map((r) => (
                  <tr key={r.seq} title={`id ${r.id}, seq ${r.seq}, status ${r.status}`}>
                    <td>{dateTime(r.occurred_at, org.timezone)}</td>
                    <td>{r.provider} / {r.model}</td>
                    <td>{r.operation}</td>
                    <td>{r.investigation ?? ""}</td>
                    <td>{r.user ?? ""}</td>
                    <td class="num">{count(r.input_tokens)}</td>
                    <td class="num">{count(r.output_tokens)}</td>
                    <td class="num">
                      {r.cost !== null ? (
                        <span title={r.source_cost !== null && r.fx_rate !== null ? `${r.source_cost} ${r.source_currency} at 1 ${r.source_currency} = ${r.fx_rate} ${r.currency} (rate of ${r.fx_date})` : undefined}>
                          <Money amount={r.cost} currency={r.currency} places={6} />
                        </span>
                      ) : r.source_cost !== null ? (
                        <span class="warn-text" title={`${r.source_cost} ${r.source_currency}: no ${r.source_currency} to ${r.currency} rate of this day yet; import rates on the Prices screen and reprice`}>awaiting rate</span>
                      ) : (
                        <span class="warn-text">unpriced</span>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        ) : records.loading ? <Loading what="records" /> : null}
        <div class="pager">
          <button disabled={pager.page === 1} onClick={() => { pager.prev(); setCursor(pager.cursor); }}>← Previous</button>
          <button disabled={!records.data?.has_more} onClick={() => { pager.next(records.data?.next_after_seq ?? null); setCursor(pager.cursor); }}>Next →</button>
        </div>
      </section>
    </div>
  );
}
