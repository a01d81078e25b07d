import { createContext } from "preact";
import type { Backend } from "./backend";
import type { AppInfo, OrgView } from "./types";

export interface Ctx {
  backend: Backend;
  info: AppInfo;
  org: OrgView;
  refresh: () => void;
  go: (screen: string) => void;
  /** The role may change settings (admin); other roles see no editing controls. */
  canEdit: boolean;
}

export const AppCtx = createContext<Ctx>(null as unknown as Ctx);
