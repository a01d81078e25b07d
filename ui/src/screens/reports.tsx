import { useContext, useState } from "preact/hooks";
import { AppCtx } from "../ctx";
import { Card, ErrorBox, ExportDone, FormatSelect, Progress, formatParams, useJob } from "../ui";
import { todayIn } from "../state";

export function Reports() {
  const { backend, org } = useContext(AppCtx);
  // The organisation's month, not the browser's.
  const month = todayIn(org.timezone).slice(0, 7);
  const [p, setP] = useState<Record<string, string>>({ format: "csv", kind: "records", by: "provider", from: `${month}-01`, to: "", provider: "", operation: "", investigation: "", user: "" });
  const { job, ev, error, run } = useJob(backend);
  const start = async (e: Event) => {
    e.preventDefault();
    const params: Record<string, unknown> = { org: org.slug };
    for (const [k, v] of Object.entries(p)) if (v.trim() && k !== "format" && !(k === "by" && p.kind !== "summary")) params[k] = v.trim();
    await run("export", { ...params, ...formatParams(p.format) });
  };
  const set = (k: string) => (e: Event) => setP({ ...p, [k]: (e.target as HTMLInputElement).value });
  const result = ev?.state === "done" ? ev.result : null;
  return (
    <div class="grid">
      <Card title="Export">
        <form class="form" onSubmit={start}>
          <label>Format
            <FormatSelect value={p.format} onChange={(format) => setP({ ...p, format })} />
          </label>
          <label>Content
            <select name="kind" value={p.kind} onChange={set("kind")}>
              <option value="records">Every record{p.format === "pdf" ? " (a PDF lists up to 10,000)" : ""}</option>
              <option value="summary">Totals by group{p.format === "pdf" ? " (the report with charts)" : ""}</option>
            </select>
          </label>
          {p.kind === "summary" ? (
            <label>Group by
              <select name="by" value={p.by} onChange={set("by")}>
                {["provider", "model", "operation", "investigation", "user", "day", "week", "month"].map((d) => <option key={d} value={d}>{d}</option>)}
              </select>
            </label>
          ) : null}
          <label>From<input name="from" value={p.from} onInput={set("from")} placeholder="YYYY-MM-DD" /></label>
          <label>To (exclusive)<input name="to" value={p.to} onInput={set("to")} placeholder="YYYY-MM-DD (now)" /></label>
          <label>Provider<input name="provider" value={p.provider} onInput={set("provider")} placeholder="any" /></label>
          <label>Operation<input name="operation" value={p.operation} onInput={set("operation")} placeholder="any" /></label>
          <label>Investigation<input name="investigation" value={p.investigation} onInput={set("investigation")} placeholder="any" /></label>
          <label>User<input name="user" value={p.user} onInput={set("user")} placeholder="any" /></label>
          <button type="submit" disabled={job !== null}>Export</button>
        </form>
      </Card>
      <Card title="Progress">
        {job && ev ? (
          <>
            <Progress done={ev.done} total={ev.total} label={ev.message} />
            <button class="secondary" onClick={() => job.cancel()}>Cancel</button>
          </>
        ) : null}
        {ev?.state === "cancelled" ? <p class="muted" role="status">Cancelled: no file was written.</p> : null}
        <ErrorBox error={error} />
        {result ? (
          <ExportDone result={result} backend={backend} testid="export-done" />
        ) : !job && !error ? <p class="muted">Choose the period and the filters, then export. Long exports show their progress here and can be cancelled.</p> : null}
      </Card>
    </div>
  );
}
