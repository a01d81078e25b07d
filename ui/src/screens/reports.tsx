import { useContext, useState } from "preact/hooks";
import { AppCtx } from "../ctx";
import { Card, ErrorBox, Progress, useJob } from "../ui";
import { count, money } from "../format";

export function Reports() {
  const { backend, org } = useContext(AppCtx);
  const month = new Date().toISOString().slice(0, 7);
  const [p, setP] = useState<Record<string, string>>({ format: "csv", kind: "records", by: "provider", from: `${month}-01`, to: "", provider: "", operation: "", investigation: "", user: "" });
  const { job, ev, error, run } = useJob(backend);
  const start = async (e: Event) => {
    e.preventDefault();
    const params: Record<string, unknown> = { org: org.slug };
    for (const [k, v] of Object.entries(p)) if (v.trim() && !(k === "by" && p.kind !== "summary")) params[k] = v.trim();
    await run("export", params);
  };
  const set = (k: string) => (e: Event) => setP({ ...p, [k]: (e.target as HTMLInputElement).value });
  const result = ev?.state === "done" ? ev.result : null;
  return (
    <div class="grid">
      <Card title="Export">
        <form class="form" onSubmit={start}>
          <label>Format
            <select name="format" value={p.format} onChange={set("format")}>
              <option value="csv">CSV (with a .meta.json)</option>
              <option value="json">JSON</option>
              <option value="pdf">PDF report</option>
            </select>
          </label>
          <label>Content
            <select name="kind" value={p.kind} onChange={set("kind")}>
              <option value="records">Every record</option>
              <option value="summary">Totals by group</option>
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
          <div role="status" data-testid="export-done">
            <p class="ok">
              {result.meta
                ? <>Wrote <code>{result.file}</code>: {count(result.meta.record_count)} rows, {count(result.meta.totals.requests)} requests, {money(result.meta.totals.cost, result.meta.totals.currency)}; sha256 <code class="hash">{result.meta.sha256}</code></>
                : <>Downloaded <code>{result.file}</code> ({count(result.bytes)} bytes).</>}
            </p>
            {result.meta?.record_count === 0 ? <p class="muted">Nothing matched: the file says so and holds no rows.</p> : null}
            {backend.openPath && result.file ? <button onClick={() => backend.openPath!(result.file)}>Open the file</button> : null}
            <p class="muted">Check it any time with <code>argus-usage export verify FILE</code>.</p>
          </div>
        ) : !job && !error ? <p class="muted">Choose the period and the filters, then export. Long exports show their progress here and can be cancelled.</p> : null}
      </Card>
    </div>
  );
}
