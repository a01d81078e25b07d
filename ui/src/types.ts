// The facade's types, generated from the Rust types (ui/src/generated, by
// `cargo test -p argus-ops --lib`): every type that crosses into the UI.
// Only the error class and the job kinds are the UI's own.
export type { Admission } from "./generated/Admission";
export type { AlertView } from "./generated/AlertView";
export type { AuditPage } from "./generated/AuditPage";
export type { AuditQuery } from "./generated/AuditQuery";
export type { AuditView } from "./generated/AuditView";
export type { BatchReport } from "./generated/BatchReport";
export type { BudgetStatus } from "./generated/BudgetStatus";
export type { BudgetView } from "./generated/BudgetView";
export type { Candidate } from "./generated/Candidate";
export type { ConflictView } from "./generated/ConflictView";
export type { DemoReport } from "./generated/DemoReport";
export type { Forecast } from "./generated/Forecast";
export type { Group } from "./generated/Group";
export type { HealthView } from "./generated/HealthView";
export type { IngestProgress } from "./generated/IngestProgress";
export type { IngestReport } from "./generated/IngestReport";
export type { OrgView } from "./generated/OrgView";
export type { PendingView } from "./generated/PendingView";
export type { Previous } from "./generated/Previous";
export type { PriceImportReport } from "./generated/PriceImportReport";
export type { PriceView } from "./generated/PriceView";
export type { ProviderView } from "./generated/ProviderView";
export type { UpstreamChange } from "./generated/UpstreamChange";
export type { UpstreamView } from "./generated/UpstreamView";
export type { AliasView } from "./generated/AliasView";
export type { ChannelView } from "./generated/ChannelView";
/** A channel to add, as `POST /alert-channels` takes it. */
export type ChannelBody =
  | { kind: "slack"; url: string }
  | { kind: "webhook"; url: string }
  | { kind: "email"; to: string; smtp: string; from?: string; smtp_auth?: { user: string; password_env?: string } };
/** A channel just added; a signed webhook's with its secret (shown once). */
export type ChannelAdded = import("./generated/ChannelView").ChannelView & { secret?: string };
export type { GatewayDay } from "./generated/GatewayDay";
export type { PriceCheck } from "./generated/PriceCheck";
export type { FxRateView } from "./generated/FxRateView";
export type { FxImportReport } from "./generated/FxImportReport";
export type { FxUsed } from "./generated/FxUsed";
export type { PriceFinding } from "./generated/PriceFinding";
export type { GatewayProviderDay } from "./generated/GatewayProviderDay";
export type { RecordView } from "./generated/RecordView";
export type { RecordsPage } from "./generated/RecordsPage";
export type { Rejected } from "./generated/Rejected";
export type { RejectedIndex } from "./generated/RejectedIndex";
export type { RepriceGroup } from "./generated/RepriceGroup";
export type { RepriceReport } from "./generated/RepriceReport";
export type { Route } from "./generated/Route";
export type { Summary } from "./generated/Summary";
export type { SyncProgress } from "./generated/SyncProgress";
export type { SyncReport } from "./generated/SyncReport";
export type { SyncStatus } from "./generated/SyncStatus";
export type { AppInfo } from "./generated/AppInfo";
export type { BudgetChange } from "./generated/BudgetChange";
export type { JobEvent } from "./generated/JobEvent";
export type { ProviderChange } from "./generated/ProviderChange";
export type { RecordQuery } from "./generated/RecordQuery";

/** An error of the engine or the server: a code to branch on, a message that says what to do. */
export class ApiError extends Error {
  constructor(
    public code: string,
    message: string,
    public field: string | null = null,
  ) {
    super(message);
  }
}

export type JobKind = "sync" | "export" | "import" | "reprice";
