import { useContext, useState } from "preact/hooks";
import { AppCtx } from "../ctx";
import { Empty, ErrorBox, ExportDone, FormatSelect, Loading, Progress, formatParams, useJob, useLoad } from "../ui";
import { dateTime } from "../format";
import { fieldDiff } from "../state";
import type { AuditQuery } from "../types";

const FIELDS = ["actor", "action", "object", "from", "to"] as const;
type Filter = Record<(typeof FIELDS)[number], string>;
const EMPTY: Filter = { actor: "", action: "", object: "", from: "", to: "" };

export function Audit() {
  const { backend, org } = useContext(AppCtx);
  // Newest first; each page continues before the last entry of the one before.
  const [cursors, setCursors] = useState<(number | undefined)[]>([undefined]);
  const [draft, setDraft] = useState<Filter>(EMPTY);
  const [filter, setFilter] = useState<Filter>(EMPTY);
  const before = cursors[cursors.length - 1];
  const query = (): AuditQuery => {
    const q: AuditQuery = { order: "newest", limit: 100 };
    for (const k of FIELDS) if (filter[k].trim()) q[k] = filter[k].trim();
    if (before !== undefined) q.before = before;
    return q;
  };
  const page = useLoad(() => backend.audit(org.slug, query()), [org.slug, before, JSON.stringify(filter)]);
  const apply = (f: Filter) => {
    setDraft(f);
    setFilter(f);
    setCursors([undefined]);
  };
  return (
    <section aria-label="audit log">
      <form class="filters" aria-label="Filter the audit log" onSubmit={(e) => { e.preventDefault(); apply(draft); }}>
        {FIELDS.map((k) => (
          <label key={k}>
            {k === "to" ? "to (exclusive)" : k}
            <input
              name={k}
              type={k === "from" || k === "to" ? "date" : undefined}
              value={draft[k]}
              placeholder={k === "actor" ? "token:NAME, cli:USER…" : k === "action" ? "budget.set, provider.set…" : k === "object" ? "a part, any case" : undefined}
              onInput={(e) => setDraft({ ...draft, [k]: (e.target as HTMLInputElement).value })}
            />
          </label>
        ))}
        <button type="submit">Apply</button>
        <button type="button" class="secondary" onClick={() => apply(EMPTY)}>Reset</button>
      </form>
      <AuditExport filter={filter} />
      <ErrorBox error={page.error} />
      {page.loading && !page.data ? <Loading what="the audit log" /> : null}
      {page.data ? (
        page.data.entries.length === 0 ? (
          <Empty>
            {FIELDS.some((k) => filter[k].trim())
              ? "No entry matches these filters. Clear a filter or widen the period."
              : "No entries yet. Every change of configuration, prices and budgets is written here with who made it."}
          </Empty>
        ) : (
          <table class="audit">
            <thead>
              <tr><th scope="col" class="num">#</th><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Object</th><th scope="col">Changes</th></tr>
            </thead>
            <tbody>
              {page.data.entries.map((e) => {
                const changes = fieldDiff(e.before, e.after);
                return (
                  <tr key={e.id}>
                    <td class="num">{e.id}</td>
                    <td>{dateTime(e.at, org.timezone)}</td>
                    <td>{e.actor}</td>
                    <td>{e.action}</td>
                    <td>{e.object}</td>
                    <td>
                      {changes.length === 0 ? <span class="muted">no field changed</span> : (
                        <ul class="diff">
                          {changes.map((c) => (
                            <li key={c.field}>
                              {c.field ? <strong>{c.field}</strong> : null}{c.field ? ": " : ""}
                              {c.before ? <del title="before">{c.before}</del> : <span class="muted">(none)</span>} → {c.after ? <ins title="after">{c.after}</ins> : <span class="muted">(none)</span>}
                            </li>
                          ))}
                        </ul>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )
      ) : null}
      <div class="pager" role="group" aria-label="Pages of the audit log">
        <button disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>← Newer</button>
        <span class="muted">page {cursors.length}</span>
        <button disabled={!page.data?.has_more} onClick={() => setCursors([...cursors, page.data?.next_after ?? before])}>Older →</button>
      </div>
    </section>
  );
}

/** Exports the entries the applied filters select (every page, oldest first), with the checksum metadata of every export. */
function AuditExport({ filter }: { filter: Filter }) {
  const { backend, org } = useContext(AppCtx);
  const [format, setFormat] = useState("csv");
  const { job, ev, error, run } = useJob(backend);
  const start = async (e: Event) => {
    e.preventDefault();
    const params: Record<string, unknown> = { org: org.slug, kind: "audit", ...formatParams(format) };
    for (const k of FIELDS) if (filter[k].trim()) params[k] = filter[k].trim();
    await run("export", params);
  };
  const result = ev?.state === "done" ? ev.result : null;
  return (
    <form class="inline export-view" aria-label="Export these entries" onSubmit={start}>
      <span>Export these entries (every page):</span>
      <label>
        <span class="sr-only">Format</span>
        <FormatSelect name="audit_format" value={format} onChange={setFormat} short />
      </label>
      <button type="submit" disabled={job !== null}>Export</button>
      {job && ev ? <Progress done={ev.done} total={ev.total} label={ev.message} /> : null}
      {result ? <ExportDone result={result} backend={backend} testid="audit-export-done" /> : null}
      <ErrorBox error={error} />
    </form>
  );
}
