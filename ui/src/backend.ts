// The backend interface the screens call, with two implementations: Tauri
// commands in the desktop window (the engine embedded over the local store)
// and the server's HTTP API in a browser. Both answer the same types.
import type {
  AlertView, AppInfo, AuditQuery, BudgetChange, OrgView, AuditPage, BudgetStatus, BudgetView, DemoReport, Forecast, JobEvent, JobKind, PriceImportReport,
  PriceView, ProviderChange, ProviderView, RecordQuery, UpstreamChange, UpstreamView, AliasView, ChannelAdded, ChannelBody, ChannelView, GatewayDay, PriceCheck, FxRateView, FxImportReport, RecordsPage, RepriceReport, Route, Summary, SyncStatus,
} from "./types";
import { ApiError } from "./types";
import { splitMetaLines } from "./state";


/** A running job: cancel it, or wait for its end. */
export interface Job {
  id: number;
  cancel(): Promise<void>;
  done: Promise<JobEvent>;
}

export interface Backend {
  kind: "tauri" | "http";
  info(): Promise<AppInfo>;
  /** The summary of a period; with `filter`, of the records it selects (as `records`). */
  summary(org: string, from?: string, to?: string, by?: string, filter?: RecordQuery): Promise<Summary>;
  records(org: string, q: RecordQuery): Promise<RecordsPage>;
  /** The month's status of the organisation's budget, or of a scope's (`KIND:VALUE`). */
  budgetStatus(org: string, month?: string, scope?: string): Promise<BudgetStatus>;
  budgets(org: string): Promise<BudgetView[]>;
  budgetSet(org: string, month: string, body: BudgetChange, ifVersion?: number, scope?: string): Promise<BudgetView>;
  alerts(org: string): Promise<AlertView[]>;
  alertAck(org: string, id: number): Promise<AlertView>;
  providers(org: string): Promise<ProviderView[]>;
  providerSet(org: string, provider: string, body: ProviderChange, ifVersion?: number): Promise<ProviderView>;
  routePreview(org: string, operation?: string): Promise<Route>;
  /** Where the gateway sends each provider's calls. */
  upstreams(org: string): Promise<UpstreamView[]>;
  gatewayToday(org: string): Promise<GatewayDay>;
  upstreamSet(org: string, provider: string, body: UpstreamChange): Promise<UpstreamView>;
  aliases(org: string): Promise<AliasView[]>;
  aliasSet(org: string, name: string, targets: string[]): Promise<AliasView>;
  aliasRemove(org: string, name: string): Promise<void>;
  /** Where every alert also goes (admins): Slack, e-mail, signed webhooks. */
  channels(org: string): Promise<ChannelView[]>;
  channelAdd(org: string, body: ChannelBody): Promise<ChannelAdded>;
  channelRemove(org: string, id: number): Promise<void>;
  forecast(org: string, month?: string, scope?: string): Promise<Forecast>;
  prices(org: string): Promise<PriceView[]>;
  pricesCheck(org: string): Promise<PriceCheck>;
  fxList(org: string): Promise<FxRateView[]>;
  fxImport(org: string, content: string): Promise<FxImportReport>;
  /** With `ifVersion` (the largest price id the screen showed), refused with `version_mismatch` when prices were added since. */
  pricesAdd(org: string, content: string, ifVersion?: number): Promise<PriceImportReport>;
  repricePreview(org: string, from?: string, to?: string): Promise<RepriceReport>;
  audit(org: string, q: AuditQuery): Promise<AuditPage>;
  startJob(kind: JobKind, params: Record<string, unknown>, onEvent: (e: JobEvent) => void): Promise<Job>;
  // The desktop only (a browser talks to the server directly).
  demoLoad?(): Promise<DemoReport>;
  orgCreate?(slug: string, currency: string, timezone: string): Promise<OrgView>;
  syncStatus?(): Promise<SyncStatus>;
  syncLink?(server: string, org: string, token: string): Promise<SyncStatus>;
  syncResolve?(id: number, keep: "local" | "server"): Promise<SyncStatus>;
  syncUnlink?(): Promise<SyncStatus>;
  openPath?(path: string): Promise<void>;
  painted?(): void;
}

function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e && typeof e === "object" && "message" in e) {
    const o = e as { code?: string; message: string; field?: string | null };
    return new ApiError(o.code ?? "internal", o.message, o.field ?? null);
  }
  return new ApiError("internal", String(e));
}

export function isTauri(): boolean {
  return typeof window !== "undefined" && "__TAURI_INTERNALS__" in window;
}

/** The desktop: Tauri commands over the embedded engine. */
export async function tauriBackend(): Promise<Backend> {
  const { invoke } = await import("@tauri-apps/api/core");
  const { listen } = await import("@tauri-apps/api/event");
  const call = async <T>(cmd: string, args: Record<string, unknown> = {}): Promise<T> => {
    try {
      return await invoke<T>(cmd, args);
    } catch (e) {
      throw toApiError(e);
    }
  };
  const handlers = new Map<number, (e: JobEvent) => void>();
  const early: JobEvent[] = [];
  await listen<JobEvent>("job", (ev) => {
    const h = handlers.get(ev.payload.id);
    if (h) h(ev.payload);
    else early.push(ev.payload);
  });
  return {
    kind: "tauri",
    info: () => call("app_info"),
    summary: (org, from, to, by, filter) => call("usage_summary", { org, query: { ...filter, from, to }, by }),
    records: (org, query) => call("usage_records", { org, query }),
    budgetStatus: (org, month, scope) => call("budget_status", { org, month, scope }),
    budgets: (org) => call("budgets", { org }),
    budgetSet: (org, month, body, if_version, scope) => call("budget_set", { org, month, body, if_version, scope }),
    alerts: (org) => call("alerts_list", { org }),
    alertAck: (org, id) => call("alerts_ack", { org, id }),
    providers: (org) => call("provider_list", { org }),
    providerSet: (org, provider, body, if_version) => call("provider_set", { org, provider, body, if_version }),
    routePreview: (org, operation) => call("route_preview", { org, operation }),
    upstreams: (org) => call("upstream_list", { org }),
    gatewayToday: (org) => call("gateway_today", { org }),
    upstreamSet: (org, provider, body) => call("upstream_set", { org, provider, body }),
    aliases: (org) => call("alias_list", { org }),
    aliasSet: (org, name, targets) => call("alias_set", { org, name, targets }),
    aliasRemove: (org, name) => call("alias_remove", { org, name }),
    channels: (org) => call("channel_list", { org }),
    channelAdd: (org, body) => call("channel_add", { org, body }),
    channelRemove: async (org, id) => void (await call("channel_remove", { org, id })),
    forecast: (org, month, scope) => call("forecast", { org, month, scope }),
    prices: (org) => call("prices_list", { org }),
    pricesCheck: (org) => call("prices_check", { org }),
    fxList: (org) => call("fx_list", { org }),
    fxImport: (org, content) => call("fx_import", { org, content }),
    pricesAdd: (org, content, if_version) => call("prices_add", { org, content, if_version }),
    repricePreview: (org, from, to) => call("reprice_preview", { org, from, to }),
    audit: (org, query) => call("audit_list", { org, query }),
    async startJob(kind, params, onEvent) {
      let resolve!: (e: JobEvent) => void;
      const done = new Promise<JobEvent>((r) => (resolve = r));
      const id = await call<number>("start_job", { kind, params });
      const handle = (e: JobEvent) => {
        onEvent(e);
        if (e.state !== "running") {
          handlers.delete(id);
          resolve(e);
        }
      };
      handlers.set(id, handle);
      for (const e of early.splice(0).filter((x) => x.id === id)) handle(e);
      return { id, done, cancel: async () => void (await call("cancel_job", { id })) };
    },
    demoLoad: () => call("demo_load"),
    orgCreate: (slug, currency, timezone) => call("org_create", { slug, currency, timezone }),
    syncStatus: () => call("sync_status"),
    syncLink: (server, org, token) => call("sync_link", { server, org, token }),
    syncResolve: (id, keep) => call("sync_resolve", { id, keep }),
    syncUnlink: () => call("sync_unlink"),
    openPath: (path) => call("open_path", { path }),
    painted: () => void call("ui_painted").catch(() => {}),
  };
}

export interface HttpLogin {
  base: string;
  org: string;
  token: string;
}

function qs(params: Record<string, unknown>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : "";
}

/** A browser: the server's HTTP API with a token. */
export function httpBackend(login: HttpLogin): Backend {
  const base = login.base.replace(/\/+$/, "") + "/api/v1";
  const req = async <T>(method: string, path: string, body?: unknown, ifVersion?: number): Promise<T> => {
    const headers: Record<string, string> = { authorization: `Bearer ${login.token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (ifVersion !== undefined) headers["if-match"] = `"${ifVersion}"`;
    let res: Response;
    try {
      res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
    } catch (e) {
      throw new ApiError("unreachable", `cannot reach the server at ${login.base}: ${e}`);
    }
    const text = await res.text();
    const json = text ? JSON.parse(text) : null;
    if (!res.ok) {
      const err = json?.error ?? {};
      throw new ApiError(err.code ?? `http_${res.status}`, err.message ?? `the server answered ${res.status}`, err.field ?? null);
    }
    return json as T;
  };
  const o = (org: string) => `/orgs/${encodeURIComponent(org)}`;
  return {
    kind: "http",
    info: async () => {
      const [org, me] = await Promise.all([req<OrgView>("GET", o(login.org)).catch(() => null), req<{ role: AppInfo["role"] }>("GET", `${o(login.org)}/me`)]);
      // An ingest token may not read the organisation: the console has nothing to show it.
      if (!org) throw new ApiError("forbidden", `This token has the role ${me.role}, which may record calls but not read them. Sign in with an analyst, auditor or admin token.`);
      return { db: login.base, version: "", orgs: [org], sync: null, role: me.role };
    },
    summary: (org, from, to, by, filter) => req("GET", `${o(org)}/usage/summary${qs({ ...filter, from, to, by })}`),
    records: (org, q) => req("GET", `${o(org)}/records${qs({ ...q })}`),
    budgetStatus: (org, month, scope) => req("GET", `${o(org)}/budget-status${qs({ month, scope })}`),
    budgets: async (org) => (await req<{ budgets: BudgetView[] }>("GET", `${o(org)}/budgets`)).budgets,
    budgetSet: (org, month, body, v, scope) => req("PUT", `${o(org)}/budgets/${month}${qs({ scope })}`, body, v),
    alerts: async (org) => (await req<{ alerts: AlertView[] }>("GET", `${o(org)}/alerts`)).alerts,
    alertAck: (org, id) => req("POST", `${o(org)}/alerts/${id}/ack`, {}),
    providers: async (org) => (await req<{ providers: ProviderView[] }>("GET", `${o(org)}/providers`)).providers,
    providerSet: (org, provider, body, v) => req("PUT", `${o(org)}/providers/${encodeURIComponent(provider)}`, body, v),
    routePreview: (org, operation) => req("POST", `${o(org)}/route`, { operation, dry_run: true }),
    upstreams: async (org) => (await req<{ upstreams: UpstreamView[] }>("GET", `${o(org)}/upstreams`)).upstreams,
    gatewayToday: (org) => req("GET", `${o(org)}/gateway/today`),
    upstreamSet: (org, provider, body) => req("PUT", `${o(org)}/providers/${encodeURIComponent(provider)}/upstream`, body),
    aliases: async (org) => (await req<{ aliases: AliasView[] }>("GET", `${o(org)}/aliases`)).aliases,
    aliasSet: (org, name, targets) => req("PUT", `${o(org)}/aliases/${encodeURIComponent(name)}`, { targets }),
    aliasRemove: async (org, name) => void (await req("DELETE", `${o(org)}/aliases/${encodeURIComponent(name)}`)),
    channels: async (org) => (await req<{ channels: ChannelView[] }>("GET", `${o(org)}/alert-channels`)).channels,
    channelAdd: (org, body) => req("POST", `${o(org)}/alert-channels`, body),
    channelRemove: async (org, id) => void (await req("DELETE", `${o(org)}/alert-channels/${id}`)),
    forecast: (org, month, scope) => req("GET", `${o(org)}/forecast${qs({ month, scope })}`),
    prices: async (org) => (await req<{ prices: PriceView[] }>("GET", `${o(org)}/prices`)).prices,
    pricesCheck: (org) => req("GET", `${o(org)}/prices/check`),
    fxList: async (org) => (await req<{ rates: FxRateView[] }>("GET", `${o(org)}/fx`)).rates,
    fxImport: (org, content) => req("POST", `${o(org)}/fx`, content),
    pricesAdd: (org, content, v) => req("POST", `${o(org)}/prices`, content, v),
    repricePreview: (org, from, to) => req("POST", `${o(org)}/reprice`, { from, to, apply: false }),
    audit: (org, q) => req("GET", `${o(org)}/audit${qs({ ...q })}`),
    async startJob(kind, params, onEvent) {
      const abort = new AbortController();
      const id = Date.now();
      const send = (state: JobEvent["state"], done: number, total: number, message: string, result: any = null, error: any = null) => {
        const e: JobEvent = { id, kind, state, done, total, message, result, error };
        onEvent(e);
        return e;
      };
      const run = async (): Promise<JobEvent> => {
        try {
          if (kind === "export") {
            const { org, out: _out, meta: metaForm, ...q } = params as Record<string, string>;
            const res = await fetch(`${base}${o(org)}/reports${qs(q)}`, { headers: { authorization: `Bearer ${login.token}` }, signal: abort.signal });
            if (!res.ok || !res.body) {
              const j = await res.json().catch(() => ({}));
              throw new ApiError(j?.error?.code ?? "http", j?.error?.message ?? `the server answered ${res.status}`);
            }
            const reader = res.body.getReader();
            const chunks: Uint8Array[] = [];
            let bytes = 0;
            for (;;) {
              const { done, value } = await reader.read();
              if (done) break;
              chunks.push(value);
              bytes += value.length;
              send("running", bytes, 0, `${bytes} bytes received`);
            }
            // The file's name and type are the server's (argus_reports::ExportRequest::default_file_name).
            const name = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") ?? "")?.[1] ?? `argus-usage-${org}.${q.format}`;
            const type = res.headers.get("content-type") ?? "application/octet-stream";
            const whole = joinChunks(chunks, bytes);
            // The metadata goes beside the file as FILE.meta.json, as the desktop
            // writes it: split off a CSV's # lines (unless asked to keep them),
            // taken from a PDF's x-argus-meta header. A JSON carries it inside.
            let file: Uint8Array = whole;
            let metaText: string | null = null;
            if (q.format === "csv" && metaForm !== "lines") {
              const split = splitMetaLines(whole);
              file = split.csv;
              metaText = split.meta;
            } else if (q.format === "pdf") {
              const h = res.headers.get("x-argus-meta");
              metaText = h ? JSON.stringify(JSON.parse(decodeURIComponent(h)), null, 2) + "\n" : null;
            }
            download(new Blob([file as BlobPart], { type }), name);
            const meta = metaText ? JSON.parse(metaText) : null;
            if (metaText) download(new Blob([metaText], { type: "application/json" }), `${name}.meta.json`);
            return send("done", bytes, bytes, "downloaded", { file: name, meta_file: metaText ? `${name}.meta.json` : null, meta, bytes: file.length });
          }
          if (kind === "reprice") {
            const { org, from, to } = params as Record<string, string>;
            return send("done", 1, 1, "applied", await req("POST", `${o(org)}/reprice`, { from, to, apply: true }));
          }
          if (kind === "import") {
            const content = String(params.content ?? "");
            const org = String(params.org ?? login.org);
            const lines = content.split("\n").filter((l) => l.trim());
            let accepted = 0;
            for (let i = 0; i < lines.length; i += 1000) {
              if (abort.signal.aborted) return send("cancelled", i, lines.length, "cancelled; the batches before stayed stored");
              const batch = lines.slice(i, i + 1000).map((l) => JSON.parse(l));
              const r = await req<{ accepted: number }>("POST", `${o(org)}/records`, batch);
              accepted += r.accepted;
              send("running", Math.min(i + 1000, lines.length), lines.length, `${accepted} accepted`);
            }
            return send("done", lines.length, lines.length, "imported", { accepted });
          }
          throw new ApiError("bad_input", "sync is for the desktop app; this browser talks to the server directly");
        } catch (e) {
          if (abort.signal.aborted) return send("cancelled", 0, 0, "cancelled");
          const err = toApiError(e);
          return send("failed", 0, 0, err.message, null, { code: err.code, message: err.message, field: err.field });
        }
      };
      send("running", 0, 0, "starting");
      return { id, done: run(), cancel: async () => abort.abort() };
    },
  };
}

function joinChunks(chunks: Uint8Array[], total: number): Uint8Array {
  const all = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return all;
}

/** Saves `blob` as a download named `name`. */
function download(blob: Blob, name: string) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
