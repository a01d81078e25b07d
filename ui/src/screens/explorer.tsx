import { useContext, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { AppCtx } from "../ctx";
import { Empty, ErrorBox, FormatSelect, Loading, Money, Progress, formatParams, useJob, useLoad } from "../ui";
import { count, dateTime } from "../format";
import { DIMENSIONS, FILTER_FIELDS, PRESETS, Pager, Preset, UsageView, drillView, filterQuery, hashOfView, presetRange, todayIn, viewFromHash } from "../state";
import type { RecordQuery } from "../types";

const PAGE = 100;
const LABELS: Record<string, string> = {
  investigation_contains: "investigation contains",
  user_contains: "user contains",
};
const PLACEHOLDERS: Record<string, string> = {
  investigation_contains: "a part, any case",
  user_contains: "a part, any case",
  status: "ok, error…",
};

export function Explorer() {
  const { backend, org } = useContext(AppCtx);
  const today = todayIn(org.timezone);
  // The whole view lives in the URL: links can be shared and the back button works.
  const [view, setView] = useState<UsageView>(() => viewFromHash(location.hash, today));
  const [draft, setDraft] = useState<UsageView>(view);
  useEffect(() => {
    const on = () => {
      if (!location.hash.startsWith("#/explorer")) return;
      const v = viewFromHash(location.hash, today);
      setView(v);
      setDraft(v);
      pager.reset();
      setCursor(null);
    };
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, [today]);
  const pager = useMemo(() => new Pager<string>(), []);
  const [cursor, setCursor] = useState<string | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  const show = (v: UsageView) => {
    const h = hashOfView(v);
    if (location.hash !== h) location.hash = h;
    setView(v);
    setDraft(v);
    pager.reset();
    setCursor(null);
    // After a drill-down or an applied filter the focus moves to the new totals, not to the page's top.
    setTimeout(() => heading.current?.focus(), 0);
  };
  const by = [view.by, view.then].filter(Boolean).join(",");
  const summary = useLoad(
    () => backend.summary(org.slug, view.from || undefined, view.to || undefined, by, filterQuery(view)),
    [org.slug, view.from, view.to, hashOfView(view)],
  );
  // One period rule: the records are those of the period the totals cover (the summary resolves an empty end).
  const period = summary.data ? { from: summary.data.from, to: summary.data.to } : null;
  // Loaded once the totals of this view are in (their period is the records' period).
  const records = useLoad(async () => {
    if (!period) return null;
    const q: RecordQuery = { ...filterQuery(view), from: period.from, to: period.to, limit: PAGE, order: view.order };
    if (cursor) q.cursor = cursor;
    return backend.records(org.slug, q);
  }, [org.slug, summary.data, view.order, cursor]);
  const cur = org.currency;
  const setPreset = (p: Preset) => {
    const r = presetRange(p, today);
    setDraft({ ...draft, preset: p, ...(r ?? {}) });
  };
  const dims = [view.by, view.then].filter(Boolean);
  const pagerControls = (where: string) => (
    <div class="pager" role="group" aria-label={`Pages of records (${where})`}>
      <button disabled={pager.page === 1} onClick={() => { pager.prev(); setCursor(pager.cursor); }}>← Previous</button>
      <span class="muted">page {pager.page}</span>
      <button disabled={!records.data?.has_more} onClick={() => { pager.next(records.data?.next_cursor ?? null); setCursor(pager.cursor); }}>Next →</button>
    </div>
  );
  return (
    <div>
      <form
        class="filters"
        aria-label="Period and filters"
        onSubmit={(e) => {
          e.preventDefault();
          show(draft);
        }}
      >
        <label>
          period
          <select name="preset" value={draft.preset} onChange={(e) => setPreset((e.target as HTMLSelectElement).value as Preset)}>
            {PRESETS.map(([id, label]) => <option key={id} value={id}>{label}</option>)}
          </select>
        </label>
        <label>
          from
          <input name="from" type="date" value={draft.from} disabled={draft.preset !== "custom"} onInput={(e) => setDraft({ ...draft, preset: "custom", from: (e.target as HTMLInputElement).value })} />
        </label>
        <label>
          to (exclusive)
          <input name="to" type="date" value={draft.to} disabled={draft.preset !== "custom"} onInput={(e) => setDraft({ ...draft, preset: "custom", to: (e.target as HTMLInputElement).value })} />
        </label>
        {FILTER_FIELDS.map((k) => (
          <label key={k}>
            {LABELS[k] ?? k}
            <input
              name={k}
              value={draft[k] ?? ""}
              placeholder={PLACEHOLDERS[k] ?? "any"}
              onInput={(e) => setDraft({ ...draft, [k]: (e.target as HTMLInputElement).value })}
            />
          </label>
        ))}
        <label>
          group by
          <select name="by" value={draft.by} onChange={(e) => { const b = (e.target as HTMLSelectElement).value; setDraft({ ...draft, by: b, then: draft.then === b ? "" : draft.then }); }}>
            {DIMENSIONS.map((d) => <option key={d} value={d}>{d}</option>)}
          </select>
        </label>
        <label>
          then by
          <select name="then" value={draft.then} onChange={(e) => setDraft({ ...draft, then: (e.target as HTMLSelectElement).value })}>
            <option value="">(nothing)</option>
            {DIMENSIONS.filter((d) => d !== draft.by).map((d) => <option key={d} value={d}>{d}</option>)}
          </select>
        </label>
        <button type="submit">Apply</button>
        <button type="button" class="secondary" onClick={() => show(viewFromHash("", today))}>
          Reset
        </button>
      </form>
      <ErrorBox error={summary.error} />
      {summary.data ? (
        <section aria-label="groups">
          <h2 tabIndex={-1} ref={heading}>
            {count(summary.data.requests)} requests, <Money amount={summary.data.cost} currency={cur} testid="explorer-total" />
            {summary.data.unpriced_requests > 0 ? <span class="warn-text"> ({count(summary.data.unpriced_requests)} unpriced, not in the cost)</span> : null}
            <span class="muted small"> · {dateTime(summary.data.from, org.timezone)} to {dateTime(summary.data.to, org.timezone)}</span>
          </h2>
          <ExportView view={view} period={period} />
          {summary.data.groups.length === 0 ? (
            <Empty>Nothing matches these filters in this period. Widen the period, or clear a filter (Reset shows this month, unfiltered).</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  {dims.map((d) => <th scope="col" key={d}>{d}</th>)}
                  <th scope="col" class="num">Requests</th>
                  <th scope="col" class="num">Input tokens</th>
                  <th scope="col" class="num">Output tokens</th>
                  <th scope="col" class="num">Cost</th>
                  <th scope="col" class="num">Unpriced</th>
                </tr>
              </thead>
              <tbody>
                {summary.data.groups.map((g) => (
                  <tr key={g.keys.join("\u001f")}>
                    {g.keys.map((k, i) => (
                      <td key={i}>
                        {k === null ? (
                          <span class="muted">(none)</span>
                        ) : (
                          <button class="link" title="Show only these records" onClick={() => show(drillView(view, g.keys))}>
                            {k}
                          </button>
                        )}
                      </td>
                    ))}
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
        <h2>
          Records{" "}
          <label class="inline-label">
            <span class="sr-only">Order of the records</span>
            <select name="order" value={view.order} onChange={(e) => show({ ...view, order: (e.target as HTMLSelectElement).value as UsageView["order"] })}>
              <option value="time_desc">newest first</option>
              <option value="time">oldest first</option>
            </select>
          </label>
        </h2>
        <ErrorBox error={records.error} />
        {records.data ? pagerControls("above") : null}
        {records.data ? (
          records.data.records.length === 0 ? (
            <Empty>{pager.page === 1 ? "No records in this view." : "No more records."}</Empty>
          ) : (
            <table class="records">
              <thead>
                <tr>
                  <th scope="col" aria-sort={view.order === "time" ? "ascending" : "descending"}>
                    <button class="link" title="Change the order" onClick={() => show({ ...view, order: view.order === "time" ? "time_desc" : "time" })}>
                      When {view.order === "time" ? "↑" : "↓"}
                    </button>
                  </th>
                  <th scope="col">Provider / model</th>
                  <th scope="col">Operation</th>
                  <th scope="col">Investigation</th>
                  <th scope="col">User</th>
                  <th scope="col">Status</th>
                  <th scope="col" class="num">In</th>
                  <th scope="col" class="num">Out</th>
                  <th scope="col" class="num">Cost</th>
                </tr>
              </thead>
              <tbody>
                {records.data.records.map((r) => (
                  <tr key={r.seq} title={`id ${r.id}, seq ${r.seq}`}>
                    <td>{dateTime(r.occurred_at, org.timezone)}</td>
                    <td>{r.provider} / {r.model}</td>
                    <td>{r.operation}</td>
                    <td>{r.investigation ?? ""}</td>
                    <td>{r.user ?? ""}</td>
                    <td>{r.status === "ok" ? "ok" : <span class="warn-text">{r.status}</span>}</td>
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
        ) : records.loading || summary.loading ? <Loading what="records" /> : null}
        {records.data && records.data.records.length > 0 ? pagerControls("below") : null}
      </section>
    </div>
  );
}

/** "Export this view": the same period and filters, as CSV, JSON or PDF (records, or the totals by the view's grouping). */
function ExportView({ view, period }: { view: UsageView; period: { from: string; to: string } | null }) {
  const { backend, org } = useContext(AppCtx);
  const [format, setFormat] = useState("csv");
  const [kind, setKind] = useState("records");
  const { job, ev, error, run } = useJob(backend);
  const start = async (e: Event) => {
    e.preventDefault();
    if (!period) return;
    const params: Record<string, unknown> = { org: org.slug, ...formatParams(format), kind, from: period.from, to: period.to, ...filterQuery(view) };
    if (kind === "summary") params.by = view.by;
    await run("export", params);
  };
  const result = ev?.state === "done" ? ev.result : null;
  return (
    <form class="inline export-view" aria-label="Export this view" onSubmit={start}>
      <span>Export this view:</span>
      <label>
        <span class="sr-only">Content</span>
        <select name="export_kind" value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value)}>
          <option value="records">its records</option>
          <option value="summary">its totals by {view.by}</option>
        </select>
      </label>
      <label>
        <span class="sr-only">Format</span>
        <FormatSelect name="export_format" value={format} onChange={setFormat} short />
      </label>
      <button type="submit" disabled={job !== null || !period}>Export</button>
      {job && ev ? (
        <>
          <Progress done={ev.done} total={ev.total} label={ev.message} />
          <button type="button" class="secondary" onClick={() => job.cancel()}>Cancel</button>
        </>
      ) : null}
      {ev?.state === "cancelled" ? <span class="muted" role="status">Cancelled: no file was written.</span> : null}
      {result ? (
        <span class="ok" role="status" data-testid="view-export-done">
          {result.meta ? <>{result.bytes !== undefined ? "Downloaded" : "Wrote"} <code>{result.file}</code>{result.meta_file ? " and its metadata file" : ""} ({count(result.meta.record_count)} rows, sha256 <code class="hash">{String(result.meta.sha256).slice(0, 12)}…</code>)</> : <>Downloaded <code>{result.file}</code></>}
          {backend.openPath && result.file ? <> <button type="button" class="link" onClick={() => backend.openPath!(result.file)}>Open</button></> : null}
        </span>
      ) : null}
      <ErrorBox error={error} />
    </form>
  );
}
