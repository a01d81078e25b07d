// The console: a shell (navigation, organisation, theme) around the screens.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { Backend, HttpLogin, httpBackend, isTauri, tauriBackend } from "./backend";
import { AppCtx } from "./ctx";
import { applyTheme } from "./theme";
import { ApiError, AppInfo } from "./types";
import { ErrorBox, Loading } from "./ui";
import { signInMessage } from "./state";
import { Overview } from "./screens/overview";
import { Explorer } from "./screens/explorer";
import { Budgets } from "./screens/budgets";
import { Providers } from "./screens/providers";
import { Prices } from "./screens/prices";
import { Reports } from "./screens/reports";
import { SyncSettings } from "./screens/sync";
import { Audit } from "./screens/audit";
import { Welcome } from "./screens/welcome";

const SCREENS = [
  ["overview", "Overview", Overview],
  ["explorer", "Usage", Explorer],
  ["budgets", "Budgets", Budgets],
  ["providers", "Providers", Providers],
  ["prices", "Prices", Prices],
  ["reports", "Reports", Reports],
  ["sync", "Sync & settings", SyncSettings],
  ["audit", "Audit log", Audit],
] as const;

function screenOfHash(): string {
  const s = location.hash.replace(/^#\/?/, "").split("?")[0];
  return SCREENS.some(([id]) => id === s) ? s : "overview";
}

function Login({ onLogin, error }: { onLogin: (l: HttpLogin) => void; error: ApiError | null }) {
  const saved = sessionStorage.getItem("argus-last-login");
  const [l, setL] = useState<HttpLogin>(saved ? { ...JSON.parse(saved), token: "" } : { base: location.origin, org: "", token: "" });
  return (
    <main class="welcome" id="content">
      <h1>Argus Usage</h1>
      <p>
        Sign in to the server with an organisation and a token. A token with the role <code>auditor</code> opens every screen and changes
        nothing; <code>admin</code> may also edit. An administrator makes one with <code>argus-usage token create --org SLUG --role auditor</code>.
      </p>
      {error ? (
        <div class="error" role="alert" data-testid="sign-in-error">
          {signInMessage(error, l.base, l.org)}
        </div>
      ) : null}
      <form class="form narrow" onSubmit={(e) => { e.preventDefault(); sessionStorage.setItem("argus-last-login", JSON.stringify({ base: l.base, org: l.org })); onLogin(l); }}>
        <label>Server<input name="base" value={l.base} onInput={(e) => setL({ ...l, base: (e.target as HTMLInputElement).value })} /></label>
        <label>Organisation<input name="org" value={l.org} onInput={(e) => setL({ ...l, org: (e.target as HTMLInputElement).value })} required /></label>
        <label>Token<input name="token" type="password" autocomplete="off" value={l.token} onInput={(e) => setL({ ...l, token: (e.target as HTMLInputElement).value })} required /></label>
        <button type="submit">Sign in</button>
      </form>
    </main>
  );
}

function App() {
  const [backend, setBackend] = useState<Backend | null>(null);
  const [needLogin, setNeedLogin] = useState(false);
  const [info, setInfo] = useState<AppInfo | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [screen, setScreen] = useState(screenOfHash());
  const [orgSlug, setOrgSlug] = useState<string | null>(localStorage.getItem("argus-org"));
  const [tick, setTick] = useState(0);

  useEffect(() => {
    const on = () => setScreen(screenOfHash());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  useEffect(() => {
    if (isTauri()) {
      tauriBackend().then(setBackend, (e) => setError(new ApiError("internal", String(e))));
      return;
    }
    const saved = sessionStorage.getItem("argus-login");
    if (saved) setBackend(httpBackend(JSON.parse(saved)));
    else setNeedLogin(true);
  }, [tick]);
  useEffect(() => {
    if (!backend) return;
    backend.info().then(
      (i) => {
        setInfo(i);
        setError(null);
      },
      (e) => {
        setError(e);
        if (backend.kind === "http" && ["unauthorized", "not_found", "forbidden", "unreachable", "rate_limited"].includes(e.code)) {
          sessionStorage.removeItem("argus-login");
          setNeedLogin(true);
          setBackend(null);
        }
      },
    );
  }, [backend, tick]);
  useEffect(() => {
    const keys = (e: KeyboardEvent) => {
      if (e.altKey && e.key >= "1" && e.key <= String(SCREENS.length)) {
        location.hash = `#/${SCREENS[Number(e.key) - 1][0]}`;
        e.preventDefault();
      }
    };
    window.addEventListener("keydown", keys);
    return () => window.removeEventListener("keydown", keys);
  }, []);

  const refresh = () => setTick((t) => t + 1);
  if (needLogin) {
    return <Login error={error} onLogin={(l) => { sessionStorage.setItem("argus-login", JSON.stringify(l)); setNeedLogin(false); setError(null); setBackend(httpBackend(l)); }} />;
  }
  if (error && !info) return <main><ErrorBox error={error} /></main>;
  if (!backend || !info) return <main><Loading what="the store" /></main>;
  const linked = info.sync?.org ?? null;
  const org = info.orgs.find((o) => o.slug === orgSlug) ?? info.orgs.find((o) => o.slug === linked) ?? info.orgs[0];
  const go = (s: string) => (location.hash = `#/${s}`);
  if (!org) {
    const ctx = { backend, info, org: null as never, refresh, go, canEdit: info.role === "admin" };
    return (
      <AppCtx.Provider value={ctx}>
        <main>{screen === "sync" ? <SyncSettings /> : <Welcome onDone={refresh} />}</main>
      </AppCtx.Provider>
    );
  }
  const Screen = SCREENS.find(([id]) => id === screen)![2];
  return (
    <AppCtx.Provider value={{ backend, info, org, refresh, go, canEdit: info.role === "admin" }}>
      <a class="skip" href="#content">Skip to content</a>
      <header>
        <span class="brand">Argus Usage</span>
        <nav aria-label="screens">
          {SCREENS.filter(([id]) => id !== "audit" || info.role === "admin" || info.role === "auditor").map(([id, label], i) => (
            <a key={id} href={`#/${id}`} aria-current={id === screen ? "page" : undefined} title={`Alt+${i + 1}`}>{label}</a>
          ))}
        </nav>
        <label class="org">
          <span class="sr">Organisation</span>
          <select value={org.slug} onChange={(e) => { const s = (e.target as HTMLSelectElement).value; localStorage.setItem("argus-org", s); setOrgSlug(s); }}>
            {info.orgs.map((o) => <option key={o.slug} value={o.slug}>{o.name} ({o.currency})</option>)}
          </select>
        </label>
      </header>
      <main id="content" tabIndex={-1}>
        <h1>{SCREENS.find(([id]) => id === screen)![1]} <span class="muted small">{org.name} · {org.timezone}{info.sync?.server && info.sync.org === org.slug ? ` · synced from ${info.sync.server}` : ""}</span></h1>
        <Screen key={`${screen}-${org.slug}`} />
      </main>
    </AppCtx.Provider>
  );
}

applyTheme();
window.matchMedia?.("(prefers-color-scheme: dark)").addEventListener?.("change", applyTheme);
render(<App />, document.getElementById("app")!);
