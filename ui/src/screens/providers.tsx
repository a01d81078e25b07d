import { useContext, useEffect, useRef, useState } from "preact/hooks";
import { AppCtx } from "../ctx";
import { Card, Empty, ErrorBox, Loading, useLoad } from "../ui";
import { count, dateTime } from "../format";
import { moveTo, quotaValue, reorder } from "../state";
import { AliasView, ApiError, ProviderView, Route, UpstreamView } from "../types";

export function Providers() {
  const { backend, org, canEdit } = useContext(AppCtx);
  const data = useLoad(() => backend.providers(org.slug), [org.slug]);
  const [error, setError] = useState<ApiError | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [route, setRoute] = useState<Route | null>(null);
  const [operation, setOperation] = useState("");
  const [dragging, setDragging] = useState<string | null>(null);
  // After a move, the focus goes back to the moved row's button of the same direction.
  const focusAfter = useRef<string | null>(null);
  useEffect(() => {
    if (!focusAfter.current) return;
    const b = document.querySelector<HTMLButtonElement>(`[data-focus-key="${focusAfter.current}"]`);
    if (b && !b.disabled) b.focus();
    else document.querySelector<HTMLElement>(`tr[data-provider="${focusAfter.current.split(":")[0]}"] button:not([disabled])`)?.focus();
    focusAfter.current = null;
  }, [data.data]);
  const checkRoute = async (op: string) => {
    try {
      setRoute(await backend.routePreview(org.slug, op || undefined));
    } catch (err) {
      setError(err as ApiError);
    }
  };
  if (data.loading && !data.data) return <Loading what="providers" />;
  if (data.error) return <ErrorBox error={data.error} />;
  const list = [...data.data!].sort((a, b) => a.priority - b.priority || a.provider.localeCompare(b.provider));
  const act = async (what: string, f: () => Promise<unknown>) => {
    try {
      await f();
      setError(null);
      setSaved(what);
      // The routing check answers for the settings now in force.
      if (route) checkRoute(operation);
    } catch (e) {
      setError(e as ApiError);
      setSaved(null);
    }
    data.reload();
  };
  const setPriorities = (what: string, changes: { provider: string; priority: number }[]) =>
    act(what, async () => {
      for (const c of changes) {
        const p = list.find((x) => x.provider === c.provider)!;
        await backend.providerSet(org.slug, c.provider, { priority: c.priority }, p.configured ? p.version : 0);
      }
    });
  const move = (p: ProviderView, by: -1 | 1) => {
    focusAfter.current = `${p.provider}:${by}`;
    setPriorities(`${p.provider} moved ${by < 0 ? "up" : "down"}`, reorder(list, p.provider, by));
  };
  const quota = (p: ProviderView, field: "hourly_limit" | "daily_limit", text: string) => {
    const q = quotaValue(text);
    if (q.error) return setError(new ApiError("bad_input", q.error, field));
    if (q.value === p[field]) return;
    const label = field === "hourly_limit" ? "hourly" : "daily";
    act(
      q.value === null ? `${p.provider}: no ${label} limit now` : `${p.provider}: ${label} limit saved, ${count(q.value)} admitted calls`,
      () => backend.providerSet(org.slug, p.provider, { [field]: q.value }, p.configured ? p.version : 0),
    );
  };
  return (
    <div class="grid">
      <Card title="Providers, in the order routing tries them" wide>
        <ErrorBox error={error} />
        {saved ? <p class="ok" role="status" data-testid="providers-saved">{saved}</p> : null}
        {list.length === 0 ? (
          <Empty>No providers yet: they appear here once usage is recorded, or when you configure one.</Empty>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Order</th>
                <th scope="col">Provider</th>
                <th scope="col">Enabled</th>
                <th scope="col" class="num" title="Calls admitted (by admit, route or the gateway) in the last hour">Admitted this hour</th>
                <th scope="col">Hourly limit</th>
                <th scope="col" class="num" title="Calls admitted in the last 24 hours">Admitted today</th>
                <th scope="col">Daily limit</th>
                <th scope="col">Health</th>
              </tr>
            </thead>
            <tbody>
              {list.map((p, i) => (
                <tr
                  key={p.provider}
                  data-provider={p.provider}
                  draggable={canEdit}
                  class={dragging === p.provider ? "dragging" : ""}
                  onDragStart={(e) => { setDragging(p.provider); e.dataTransfer?.setData("text/plain", p.provider); }}
                  onDragOver={(e) => e.preventDefault()}
                  onDrop={(e) => { e.preventDefault(); const from = e.dataTransfer?.getData("text/plain") || dragging; setDragging(null); if (from && canEdit) setPriorities(`${from} moved`, moveTo(list, from, p.provider)); }}
                  onDragEnd={() => setDragging(null)}
                >
                  <td class="order">
                    {canEdit ? <span class="handle" aria-hidden="true">⠿</span> : null} {i + 1}
                    {canEdit ? (
                      <>
                        <button class="icon" data-focus-key={`${p.provider}:-1`} aria-label={`Move ${p.provider} up`} disabled={i === 0} onClick={() => move(p, -1)}>↑</button>
                        <button class="icon" data-focus-key={`${p.provider}:1`} aria-label={`Move ${p.provider} down`} disabled={i === list.length - 1} onClick={() => move(p, 1)}>↓</button>
                      </>
                    ) : null}
                  </td>
                  <td>{p.provider}{p.configured ? "" : <span class="muted"> (defaults)</span>}</td>
                  <td>
                    {canEdit ? (
                      <label class="switch">
                        <input type="checkbox" role="switch" aria-label={`${p.provider} enabled`} checked={p.enabled} onChange={(e) => { const on = (e.target as HTMLInputElement).checked; act(`${p.provider} ${on ? "enabled" : "disabled"}`, () => backend.providerSet(org.slug, p.provider, { enabled: on }, p.configured ? p.version : 0)); }} />
                        {p.enabled ? "on" : "off"}
                      </label>
                    ) : p.enabled ? "on" : <span class="bad">off</span>}
                  </td>
                  <td class="num">{count(p.hourly_used)}</td>
                  <td>{canEdit ? <input class="quota" aria-label={`${p.provider} hourly limit`} defaultValue={p.hourly_limit?.toString() ?? ""} placeholder="none" onChange={(e) => quota(p, "hourly_limit", (e.target as HTMLInputElement).value)} /> : p.hourly_limit === null ? <span class="muted">none</span> : count(p.hourly_limit)}</td>
                  <td class="num">{count(p.daily_used)}</td>
                  <td>{canEdit ? <input class="quota" aria-label={`${p.provider} daily limit`} defaultValue={p.daily_limit?.toString() ?? ""} placeholder="none" onChange={(e) => quota(p, "daily_limit", (e.target as HTMLInputElement).value)} /> : p.daily_limit === null ? <span class="muted">none</span> : count(p.daily_limit)}</td>
                  <td>
                    <span class={`health ${p.health.state}`}>{p.health.state.replace("_", " ")}</span>
                    {p.health.cooldown_until ? <span class="muted"> until {dateTime(p.health.cooldown_until, org.timezone)}</span> : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <p class="muted">
          {canEdit ? "Reorder by dragging a row, or with the ↑ ↓ buttons. Leave a limit empty for none. " : "Only an admin may change these settings. "}
          Limits count calls admitted by admit, route and the gateway, not records posted afterwards.
        </p>
      </Card>
      <Gateway providers={list.map((p) => p.provider)} onChange={() => { setRoute(null); data.reload(); }} />
      <Card title="Which provider would a call use now?" wide>
        <form class="inline" onSubmit={async (e) => { e.preventDefault(); setError(null); await checkRoute(operation); }}>
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

/** The gateway: where each provider's calls go, and the model aliases. */
function Gateway({ providers, onChange }: { providers: string[]; onChange: () => void }) {
  const { backend, org, canEdit } = useContext(AppCtx);
  const ups = useLoad(() => backend.upstreams(org.slug), [org.slug]);
  const als = useLoad(() => backend.aliases(org.slug), [org.slug]);
  const [error, setError] = useState<ApiError | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const act = async (what: string, f: () => Promise<unknown>) => {
    try {
      await f();
      setError(null);
      setSaved(what);
      ups.reload();
      als.reload();
      onChange();
    } catch (e) {
      setError(e as ApiError);
      setSaved(null);
    }
  };
  const upstreams: UpstreamView[] = ups.data ?? [];
  const aliases: AliasView[] = als.data ?? [];
  const names = [...new Set([...providers, ...upstreams.map((u) => u.provider)])].sort();
  return (
    <Card title="Gateway: where calls sent through Argus go" wide>
      <ErrorBox error={error ?? ups.error ?? als.error} />
      {saved ? <p class="ok" role="status">{saved}</p> : null}
      <p class="muted">
        Applications use the official SDKs with the base URL of this server (<code>/v1</code> for OpenAI's, the server itself for Anthropic's)
        and an Argus ingest token as the key; each call is admitted, routed by the order above, failed over and recorded.
      </p>
      {upstreams.length === 0 ? <Empty>No upstream yet: give a provider the base URL its own SDK takes, and the environment variable of the server that holds its key.</Empty> : null}
      <table data-testid="upstreams">
        <thead>
          <tr>
            <th scope="col">Provider</th>
            <th scope="col">Base URL</th>
            <th scope="col">Dialect</th>
            <th scope="col">Key (environment variable)</th>
            <th scope="col">Key available</th>
            <th scope="col"><span class="sr-only">Save</span></th>
          </tr>
        </thead>
        <tbody>
          {names.map((name) => {
            const u = upstreams.find((x) => x.provider === name);
            const form = `up-${name}`;
            return (
              <tr key={name} data-provider={name}>
                <td>{name}</td>
                {!canEdit ? (
                  <>
                    <td>{u?.base_url ?? <span class="muted">none</span>}</td>
                    <td>{u ? (u.api === "anthropic" ? "Anthropic Messages" : "OpenAI chat completions") : ""}</td>
                    <td>{u?.api_key_env ?? ""}</td>
                  </>
                ) : null}
                {canEdit ? <td><input form={form} name="base_url" aria-label={`${name} base URL`} defaultValue={u?.base_url ?? ""} placeholder={name === "anthropic" ? "https://api.anthropic.com" : "https://api.openai.com/v1"} /></td> : null}
                {canEdit ? (
                  <>
                    <td>
                      <select form={form} name="api" aria-label={`${name} dialect`} defaultValue={u?.api ?? (name === "anthropic" ? "anthropic" : "openai")}>
                        <option value="openai">OpenAI chat completions</option>
                        <option value="anthropic">Anthropic Messages</option>
                      </select>
                    </td>
                    <td><input form={form} name="api_key_env" aria-label={`${name} key variable`} defaultValue={u?.api_key_env ?? ""} placeholder="OPENAI_API_KEY" /></td>
                  </>
                ) : null}
                <td>{u ? (u.key_available ? <span class="health ok">yes</span> : <span class="health cooling_down" title="set this variable where the server runs">not set</span>) : <span class="muted">-</span>}</td>
                <td>
                  {canEdit ? <form id={form} onSubmit={(e) => {
                    e.preventDefault();
                    const f = new FormData(e.target as HTMLFormElement);
                    const base_url = String(f.get("base_url") ?? "").trim();
                    const key = String(f.get("api_key_env") ?? "").trim();
                    act(`${name}: upstream saved`, () => backend.upstreamSet(org.slug, name, { base_url, api: String(f.get("api")), api_key_env: key || undefined }));
                  }}>
                    <button type="submit">Save</button>
                  </form> : null}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <h3>Model aliases</h3>
      {aliases.length === 0 ? <Empty>No aliases: a caller names provider/model, or a model that a provider with an upstream has a price for.</Empty> : (
        <ul data-testid="aliases">
          {aliases.map((a) => (
            <li key={a.name}>
              <code>{a.name}</code>: {a.targets.join(", ")}{" "}
              {canEdit ? <button class="link" onClick={() => act(`alias ${a.name} removed`, () => backend.aliasRemove(org.slug, a.name))}>Remove</button> : null}
            </li>
          ))}
        </ul>
      )}
      {canEdit ? <form class="inline" onSubmit={(e) => {
        e.preventDefault();
        const f = new FormData(e.target as HTMLFormElement);
        const name = String(f.get("name") ?? "").trim();
        const targets = String(f.get("targets") ?? "").split(",").map((t) => t.trim()).filter(Boolean);
        act(`alias ${name} saved`, () => backend.aliasSet(org.slug, name, targets));
      }}>
        <input name="name" aria-label="alias name" placeholder="alias, e.g. smart" required />
        <input name="targets" aria-label="alias targets" placeholder="openai/gpt-4o, anthropic/claude-sonnet-4-5" required size={40} />
        <button type="submit">Save alias</button>
      </form> : null}
    </Card>
  );
}
