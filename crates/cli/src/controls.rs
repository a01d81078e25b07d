//! The control commands: budgets, alerts, providers, and the printing of
//! routes and forecasts.
use crate::table::Table;
use crate::{print_json, AlertsCmd, AliasCmd, BudgetCmd, ChannelCmd, ProviderCmd};
use argus_domain::budget::CallKeys;
use argus_domain::{ErrorCode, FieldError};
use argus_ops::api::{Forecast, Route};
use argus_ops::channels::ChannelSpec;
use argus_ops::controls::{BudgetChange, ProviderChange};
use argus_ops::gateway::UpstreamChange;
use argus_ops::{Ops, OpsError};
use std::process::ExitCode;

fn limit(field: &str, v: Option<String>) -> Result<Option<Option<i64>>, OpsError> {
    match v.as_deref() {
        None => Ok(None),
        Some("none") => Ok(Some(None)),
        Some(s) => s
            .parse::<i64>()
            .map(|n| Some(Some(n)))
            .map_err(|_| FieldError::new(field, format!("{s:?} is not a number of requests; give a whole number or `none`")).into()),
    }
}

pub(crate) fn budget(ops: &mut Ops, c: BudgetCmd) -> Result<ExitCode, OpsError> {
    match c {
        BudgetCmd::Set { org, scope, amount, month, thresholds, hard_limit, no_hard_limit, spike_factor, json } => {
            let change = BudgetChange {
                scope,
                spike_factor: spike_factor.map(|f| if f == "none" || f == "off" { None } else { Some(f) }),
                amount,
                thresholds_text: thresholds,
                hard_limit: if hard_limit {
                    Some(true)
                } else if no_hard_limit {
                    Some(false)
                } else {
                    None
                },
                ..BudgetChange::default()
            };
            let b = ops.budget_set(&org, month.as_deref(), &change)?.budget;
            if json {
                print_json(&b);
            } else {
                let thresholds: Vec<String> = b.thresholds.iter().map(|t| format!("{t}%")).collect();
                outln!(
                    "budget of {}{} for {}: {} {}, alerts at {}, hard limit {} (version {})",
                    b.org,
                    if b.scope == "org" { String::new() } else { format!(" {}", b.scope) },
                    b.month,
                    b.amount,
                    b.currency,
                    thresholds.join(", "),
                    if b.hard_limit { "on" } else { "off" },
                    b.version
                );
            }
        }
        BudgetCmd::Status { org, scope, month, json } => {
            let s = ops.budget_status_of(&org, scope.as_deref(), month.as_deref())?;
            let org = if s.scope == "org" { s.org.clone() } else { format!("{} {}", s.org, s.scope) };
            if json {
                print_json(&s);
            } else {
                match (&s.amount, &s.percent) {
                    (Some(a), p) => outln!(
                        "{} {}: spent {} of {} {} ({}%), remaining {}{}",
                        org,
                        s.month,
                        s.spent,
                        a,
                        s.currency,
                        p.clone().unwrap_or_else(|| "-".into()),
                        s.remaining.map(|r| r.to_string()).unwrap_or_default(),
                        if s.blocked { "; BLOCKED by the hard limit" } else { "" }
                    ),
                    (None, _) => outln!(
                        "{} {}: spent {} {}; no budget set (set one with `argus-usage budget set --org {}{} --amount 1000`)",
                        org,
                        s.month,
                        s.spent,
                        s.currency,
                        s.org,
                        if s.scope == "org" { String::new() } else { format!(" --scope {}", s.scope) }
                    ),
                }
                if s.unpriced_requests > 0 {
                    outln!("WARNING: {} requests this month are unpriced and not in the spend", s.unpriced_requests);
                }
                for a in &s.alerts {
                    outln!("alert {}: {}% reached at {} (spent {} of {})", a.id, a.threshold, a.fired_at, a.spent, a.amount);
                }
            }
        }
        BudgetCmd::List { org, json } => {
            let list = ops.budgets(&org)?;
            if json {
                print_json(&serde_json::json!({ "budgets": list }));
            } else if list.is_empty() {
                outln!("no budgets; set one with `argus-usage budget set --org {org} --amount 1000`");
            } else {
                let mut t = Table::new(&["scope", "month", "amount", "thresholds", "hard limit", "version"]);
                t.right_align(&[2, 5]);
                for b in list {
                    let th: Vec<String> = b.thresholds.iter().map(|x| x.to_string()).collect();
                    t.row(vec![
                        b.scope,
                        b.month,
                        b.amount.to_string(),
                        th.join(","),
                        if b.hard_limit { "on".into() } else { "off".into() },
                        b.version.to_string(),
                    ]);
                }
                t.print();
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn alerts(ops: &mut Ops, c: AlertsCmd) -> Result<ExitCode, OpsError> {
    match c {
        AlertsCmd::List { org, json } => {
            let list = ops.alerts_list(&org)?;
            if json {
                print_json(&serde_json::json!({ "alerts": list }));
            } else if list.is_empty() {
                outln!("no alerts have fired");
            } else {
                let mut t = Table::new(&["id", "scope", "kind", "month", "threshold", "fired_at", "spent", "amount", "acknowledged"]);
                t.right_align(&[0, 4, 6, 7]);
                for a in list {
                    t.row(vec![
                        a.id.to_string(),
                        a.scope,
                        a.kind,
                        a.month,
                        format!("{}%", a.threshold),
                        a.fired_at,
                        a.spent.to_string(),
                        a.amount.to_string(),
                        a.acknowledged_by.map(|b| format!("by {b}")).unwrap_or_else(|| "no".into()),
                    ]);
                }
                t.print();
            }
        }
        AlertsCmd::Ack { org, id, json } => {
            let a = ops.alerts_ack(&org, id)?;
            if json {
                print_json(&a);
            } else {
                outln!("alert {} acknowledged", a.id);
            }
        }
        AlertsCmd::Channel(c) => return channel(ops, c),
    }
    Ok(ExitCode::SUCCESS)
}

fn channel(ops: &mut Ops, c: ChannelCmd) -> Result<ExitCode, OpsError> {
    match c {
        ChannelCmd::Add { org, kind, url, to, smtp, from, smtp_user, password_env, allow_private_targets, json } => {
            let spec = ChannelSpec { kind, url, to, smtp, from, smtp_user, password_env };
            let v = ops.channel_add(&org, &spec, allow_private_targets)?;
            let secret = (v.kind == "webhook").then(|| crate::server_key_set().and_then(|k| argus_client::outbox::channel_secret(&k, &v)));
            if json {
                let mut out = serde_json::to_value(&v).unwrap_or_default();
                if let Some(Some(s)) = &secret {
                    out["secret"] = serde_json::Value::String(s.clone());
                }
                print_json(&out);
            } else {
                outln!(
                    "channel {} added: {} to {}; every new alert of {} goes there (sent by `serve`, or by the desktop app while its window is open)",
                    v.id, v.kind, v.target, v.org
                );
                match secret {
                    Some(Some(s)) => outln!("signing secret (X-Argus-Signature: sha256=HMAC of the body): {s}"),
                    Some(None) => outln!("note: set ARGUS_USAGE_SERVER_KEY (as serve has it) to see this webhook's signing secret here"),
                    None => {}
                }
                if let Some(var) = &v.password_env {
                    outln!("the SMTP password is read from {var} in the environment of the process that sends (serve, or the desktop app)");
                }
            }
        }
        ChannelCmd::List { org, json } => {
            let list = ops.channels_list(&org)?;
            if json {
                print_json(&serde_json::json!({ "channels": list }));
            } else if list.is_empty() {
                outln!("no alert channels; add one with `argus-usage alerts channel add --org {org} --kind slack --url URL`");
            } else {
                let mut t = Table::new(&["id", "kind", "target", "created_at"]);
                t.right_align(&[0]);
                for c in list {
                    t.row(vec![c.id.to_string(), c.kind, c.target, c.created_at]);
                }
                t.print();
            }
        }
        ChannelCmd::Remove { org, id, json } => {
            let v = ops.channel_remove(&org, id)?;
            if json {
                print_json(&v);
            } else {
                outln!("channel {} removed ({} to {})", v.id, v.kind, v.target);
            }
        }
        ChannelCmd::Test { org, id, allow_private_targets, json } => {
            let due = ops.channel_test(&org, id)?;
            let key = crate::server_key_set().unwrap_or_default();
            let sender = argus_client::outbox::Sender::new(std::sync::Arc::new(key), None, allow_private_targets);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| OpsError::new(ErrorCode::Io, format!("cannot start the runtime: {e}")))?;
            let attempt = rt.block_on(sender.send(&due));
            let delivered = attempt.delivered();
            if json {
                print_json(&serde_json::json!({"channel": id, "delivered": delivered, "status": attempt.describe()}));
            } else if delivered {
                outln!("test message delivered to channel {id} ({})", attempt.describe());
            } else {
                eprintln!("error: the test message to channel {id} was not delivered: {}", attempt.describe());
            }
            if !delivered {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn provider(ops: &mut Ops, c: ProviderCmd) -> Result<ExitCode, OpsError> {
    match c {
        ProviderCmd::Set { org, provider, enabled, priority, hourly_limit, daily_limit, note, base_url, api_key_env, api, json } => {
            let settings_given =
                enabled.is_some() || priority.is_some() || hourly_limit.is_some() || daily_limit.is_some() || note.is_some();
            let upstream_given = base_url.is_some() || api_key_env.is_some() || api.is_some();
            let change = ProviderChange {
                enabled,
                priority,
                hourly_limit: limit("hourly_limit", hourly_limit)?,
                daily_limit: limit("daily_limit", daily_limit)?,
                note: note.map(|n| if n.is_empty() { None } else { Some(n) }),
                if_version: None,
            };
            let upstream = if upstream_given {
                Some(ops.upstream_set(&org, &provider, &UpstreamChange { base_url, api, api_key_env })?)
            } else {
                None
            };
            let p = if settings_given || !upstream_given {
                ops.provider_set(&org, &provider, &change)?
            } else {
                ops.provider_list(&org)?.into_iter().find(|p| p.provider == provider).ok_or_else(|| OpsError::not_found("provider"))?
            };
            if json {
                let mut v = serde_json::to_value(&p).unwrap_or_default();
                if let Some(u) = &upstream {
                    v["upstream"] = serde_json::to_value(u).unwrap_or_default();
                }
                print_json(&v);
            } else {
                if let Some(u) = &upstream {
                    outln!(
                        "{}: the gateway sends its calls to {} ({}), key from {}{}",
                        u.provider,
                        u.base_url,
                        u.api,
                        u.api_key_env.as_deref().unwrap_or("(none)"),
                        if u.key_available || u.api_key_env.is_none() { "" } else { " (not set in this shell: set it where serve runs)" }
                    );
                }
                outln!(
                    "{}: {}, priority {}, hourly limit {}, daily limit {}",
                    p.provider,
                    if p.enabled { "enabled" } else { "disabled" },
                    p.priority,
                    p.hourly_limit.map(|x| x.to_string()).unwrap_or_else(|| "none".into()),
                    p.daily_limit.map(|x| x.to_string()).unwrap_or_else(|| "none".into())
                );
            }
        }
        ProviderCmd::List { org, json } => {
            let list = ops.provider_list(&org)?;
            let upstreams = ops.upstream_list(&org)?;
            if json {
                let with: Vec<serde_json::Value> = list
                    .iter()
                    .map(|p| {
                        let mut v = serde_json::to_value(p).unwrap_or_default();
                        v["upstream"] = serde_json::to_value(upstreams.iter().find(|u| u.provider == p.provider)).unwrap_or_default();
                        v
                    })
                    .collect();
                print_json(&serde_json::json!({ "providers": with }));
            } else if list.is_empty() {
                outln!("no providers yet; configure one with `argus-usage provider set --org {org} --provider openai --priority 1`");
            } else {
                let mut t = Table::new(&["priority", "provider", "enabled", "hour used/limit", "day used/limit", "health"]);
                t.right_align(&[0, 3, 4]);
                for p in list {
                    let q = |used: i64, lim: Option<i64>| format!("{used}/{}", lim.map(|l| l.to_string()).unwrap_or_else(|| "-".into()));
                    t.row(vec![
                        if p.configured { p.priority.to_string() } else { "-".into() },
                        p.provider,
                        if p.enabled { "yes".into() } else { "no".into() },
                        q(p.hourly_used, p.hourly_limit),
                        q(p.daily_used, p.daily_limit),
                        match p.health.cooldown_until {
                            Some(u) => format!("cooling down until {u}"),
                            None => p.health.state,
                        },
                    ]);
                }
                t.print();
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn alias(ops: &mut Ops, c: AliasCmd) -> Result<ExitCode, OpsError> {
    match c {
        AliasCmd::Set { org, name, targets, json } => {
            let a = ops.alias_set(&org, &name, &targets)?;
            if json {
                print_json(&a);
            } else {
                outln!("{}: {} (tried in provider priority order)", a.name, a.targets.join(", "));
            }
        }
        AliasCmd::List { org, json } => {
            let list = ops.alias_list(&org)?;
            if json {
                print_json(&serde_json::json!({ "aliases": list }));
            } else if list.is_empty() {
                outln!("no aliases yet; make one with `argus-usage alias set --org {org} --name smart --targets openai/gpt-4o,anthropic/claude-sonnet-4-5`");
            } else {
                for a in list {
                    outln!("{:<24} {}", a.name, a.targets.join(", "));
                }
            }
        }
        AliasCmd::Remove { org, name } => {
            ops.alias_remove(&org, &name)?;
            outln!("alias {name} removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn print_route(r: &Route) {
    match (&r.chosen, &r.reservation_id) {
        (Some(p), Some(id)) => outln!("chosen: {p} (reservation {id})"),
        (Some(p), None) => outln!("would choose: {p} (dry run)"),
        (None, _) => outln!("no provider is available"),
    }
    for c in &r.candidates {
        outln!("  {:<14} {:<15} {}", c.provider, c.state, c.reason.clone().unwrap_or_default());
    }
}

pub(crate) fn print_forecast(f: &Forecast) {
    let whose = if f.scope == "org" { f.org.clone() } else { format!("{} {}", f.org, f.scope) };
    if !f.enough_data {
        outln!(
            "{} {}: spent {} {} so far; not enough data to project yet (the first day of a month has no complete day)",
            whose,
            f.month,
            f.spent,
            f.currency
        );
        return;
    }
    outln!(
        "{} {}: spent {} {}; projected month end {} (range {} to {})",
        whose,
        f.month,
        f.spent,
        f.currency,
        f.projected.map(|m| m.to_string()).unwrap_or_default(),
        f.low.map(|m| m.to_string()).unwrap_or_default(),
        f.high.map(|m| m.to_string()).unwrap_or_default()
    );
    if let Some(a) = f.amount {
        outln!(
            "budget {a}; crosses on {}; {}",
            f.crosses_on.clone().unwrap_or_else(|| "-".into()),
            f.budget_left_text().unwrap_or_else(|| "no rate yet to say how long it lasts".into())
        );
    }
}

/// `admit`: exit 0 when allowed, 2 when refused.
pub(crate) fn admit(
    ops: &mut Ops,
    org: &str,
    provider: &str,
    estimated_cost: Option<&str>,
    keys: &CallKeys<'_>,
    json: bool,
) -> Result<ExitCode, OpsError> {
    let a = ops.admit_call(org, provider, estimated_cost, keys)?;
    if json {
        print_json(&a);
    } else if a.allowed {
        outln!("allowed: reservation {}", a.reservation_id.clone().unwrap_or_default());
    } else {
        outln!("refused ({}): {}", a.code.clone().unwrap_or_default(), a.message.clone().unwrap_or_default());
    }
    Ok(if a.allowed { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

/// `route`: exit 0 when a provider is chosen, 2 when none is.
pub(crate) fn route(
    ops: &mut Ops,
    org: &str,
    keys: &CallKeys<'_>,
    dry_run: bool,
    estimated_cost: Option<&str>,
    json: bool,
) -> Result<ExitCode, OpsError> {
    let r = ops.route_call(org, keys, dry_run, estimated_cost)?;
    if json {
        print_json(&r);
    } else {
        print_route(&r);
    }
    Ok(if r.chosen.is_some() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

pub(crate) fn forecast(ops: &mut Ops, org: &str, scope: Option<&str>, month: Option<&str>, json: bool) -> Result<ExitCode, OpsError> {
    let f = ops.forecast_of(org, scope, month)?;
    if json {
        print_json(&f);
    } else {
        print_forecast(&f);
    }
    Ok(ExitCode::SUCCESS)
}
