import { useContext, useState } from "preact/hooks";
import { AppCtx } from "../ctx";
import { Card, Empty, ErrorBox, Loading, useLoad } from "../ui";
import { count, dateTime } from "../format";
import { moveTo, quotaValue, reorder } from "../state";
import { ApiError, ProviderView, Route } from "../types";

export function Providers() {
  const { backend, org } = useContext(AppCtx);
  const data = useLoad(() => backend.providers(org.slug), [org.slug]);
  const [error, setError] = useState<ApiError | null>(null);
  const [route, setRoute] = useState<Route | null>(null);
  const [operation, setOperation] = useState("");
  const [dragging, setDragging] = useState<string | null>(null);
  if (data.loading && !data.data) return <Loading what="providers" />;
  if (data.error) return <ErrorBox error={data.error} />;
  const list = [...data.data!].sort((a, b) => a.priority - b.priority || a.provider.localeCompare(b.provider));
  const act = async (f: () => Promise<unknown>) => {
    try {
      await f();
      setError(null);
      setRoute(null);
    } catch (e) {
      setError(e as ApiError);
    }
    data.reload();
  };
  const setPriorities = (changes: { provider: string; priority: number }[]) =>
    act(async () => {
      for (const c of changes) {
        const p = list.find((x) => x.provider === c.provider)!;
        await backend.providerSet(org.slug, c.provider, { priority: c.priority }, p.configured ? p.version : 0);
      }
    });
  const quota = (p: ProviderView, field: "hourly_limit" | "daily_limit", text: string) => {
    const q = quotaValue(text);
    if (q.error) return setError(new ApiError("bad_input", q.error, field));
    if (q.value === p[field]) return;
    act(() => backend.providerSet(org.slug, p.provider, { [field]: q.value }, p.configured ? p.version : 0));
  };
  return (
    <div class="grid">
      <Card title="Providers, in the order routing tries them" wide>
        <ErrorBox error={error} />
        {list.length === 0 ? (
          <Empty>No providers yet: they appear here once usage is recorded, or when you configure one.</Empty>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Order</th>
                <th scope="col">Provider</th>
                <th scope="col">Enabled</th>
                <th scope="col" class="num">Used this hour</th>
                <th scope="col">Hourly limit</th>
                <th scope="col" class="num">Used today</th>
                <th scope="col">Daily limit</th>
                <th scope="col">Health</th>
              </tr>
            </thead>
            <tbody>
              {list.map((p, i) => (
                <tr
                  key={p.provider}
                  data-provider={p.provider}
                  draggable
                  class={dragging === p.provider ? "dragging" : ""}
                  onDragStart={(e) => { setDragging(p.provider); e.dataTransfer?.setData("text/plain", p.provider); }}
                  onDragOver={(e) => e.preventDefault()}
                  onDrop={(e) => { e.preventDefault(); const from = e.dataTransfer?.getData("text/plain") || dragging; setDragging(null); if (from) setPriorities(moveTo(list, from, p.provider)); }}
                  onDragEnd={() => setDragging(null)}
                >
                  <td class="order">
                    <span class="handle" aria-hidden="true">⠿</span> {i + 1}
                    <button class="icon" aria-label={`Move ${p.provider} up`} disabled={i === 0} onClick={() => setPriorities(reorder(list, p.provider, -1))}>↑</button>
                    <button class="icon" aria-label={`Move ${p.provider} down`} disabled={i === list.length - 1} onClick={() => setPriorities(reorder(list, p.provider, 1))}>↓</button>
                  </td>
                  <td>{p.provider}{p.configured ? "" : <span class="muted"> (defaults)</span>}</td>
                  <td>
                    <label class="switch">
                      <input type="checkbox" role="switch" aria-label={`${p.provider} enabled`} checked={p.enabled} onChange={(e) => act(() => backend.providerSet(org.slug, p.provider, { enabled: (e.target as HTMLInputElement).checked }, p.configured ? p.version : 0))} />
                      {p.enabled ? "on" : "off"}
                    </label>
                  </td>
                  <td class="num">{count(p.hourly_used)}</td>
                  <td><input class="quota" aria-label={`${p.provider} hourly limit`} defaultValue={p.hourly_limit?.toString() ?? ""} placeholder="none" onChange={(e) => quota(p, "hourly_limit", (e.target as HTMLInputElement).value)} /></td>
                  <td class="num">{count(p.daily_used)}</td>
                  <td><input class="quota" aria-label={`${p.provider} daily limit`} defaultValue={p.daily_limit?.toString() ?? ""} placeholder="none" onChange={(e) => quota(p, "daily_limit", (e.target as HTMLInputElement).value)} /></td>
                  <td>
                    <span class={`health ${p.health.state}`}>{p.health.state.replace("_", " ")}</span>
                    {p.health.cooldown_until ? <span class="muted"> until {dateTime(p.health.cooldown_until, org.timezone)}</span> : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <p class="muted">Reorder by dragging a row, or with the ↑ ↓ buttons. Leave a limit empty for none.</p>
      </Card>
      <Card title="Which provider would a call use now?" wide>
        <form class="inline" onSubmit={async (e) => { e.preventDefault(); try { setRoute(await backend.routePreview(org.slug, operation || undefined)); setError(null); } catch (err) { setError(err as ApiError); } }}>
          <input name="operation" placeholder="operation (optional)" value={operation} onInput={(e) => setOperation((e.target as HTMLInputElement).value)} />
          <button type="submit">Check routing</button>
        </form>
        {route ? (
          <div>
            <p data-testid="route-chosen">
              {route.chosen ? <>A call now goes to <strong>{route.chosen}</strong>.</> : <strong class="bad">No provider is available now.</strong>}
            </p>
            <ol>
              {route.candidates.map((c) => (
                <li key={c.provider}>{c.provider}: {c.state.replace("_", " ")}{c.reason ? ` (${c.reason})` : ""}</li>
              ))}
            </ol>
          </div>
        ) : null}
      </Card>
    </div>
  );
}
