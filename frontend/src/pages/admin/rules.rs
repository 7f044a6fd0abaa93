//! `/admin/rules`: the alert rules; an editor whose mistakes are named by field (here, then by
//! the server), and a preview of what a rule would have fired on over the last 24 hours of
//! stored windows.

use layercast_shared::{OsiLayer, METRIC_NAMES};
use leptos::prelude::*;

use super::{change, AdminOnly, Outcome};
use crate::api;
use crate::format;
use crate::model::route::encode;
use crate::model::rule_form::RuleForm;
use crate::model::wire::{AlertRule, RulePreview, OPS, SIGNALS};
use crate::remote::{failure_text, load, view_load};
use crate::session::use_session;

#[component]
pub fn RulesPage() -> impl IntoView {
    view! { <AdminOnly><Rules /></AdminOnly> }
}

#[component]
fn Rules() -> impl IntoView {
    let session = use_session();
    let reload = RwSignal::new(0_u32);
    let list = load::<Vec<AlertRule>>(move || {
        reload.get();
        "/api/rules".to_owned()
    });
    let form = RwSignal::new(RuleForm::default());
    // The id of the rule being edited; `None` for a new one.
    let editing = RwSignal::new(None::<String>);
    let outcome = RwSignal::new(None);
    let preview = RwSignal::new(None::<Result<RulePreview, String>>);

    let field = move |get: fn(&RuleForm) -> String, set: fn(&mut RuleForm, String)| {
        (
            Signal::derive(move || form.with(get)),
            move |ev: leptos::ev::Event| {
                let v = event_target_value(&ev);
                form.update(|f| set(f, v));
            },
        )
    };
    let (id, on_id) = field(|f| f.id.clone(), |f, v| f.id = v);
    let (layer, on_layer) = field(|f| f.layer.clone(), |f, v| f.layer = v);
    let (entity, on_entity) = field(|f| f.entity.clone(), |f, v| f.entity = v);
    let (metric, on_metric) = field(|f| f.metric.clone(), |f, v| f.metric = v);
    let (signal_, on_signal) = field(|f| f.signal.clone(), |f, v| f.signal = v);
    let (op, on_op) = field(|f| f.op.clone(), |f, v| f.op = v);
    let (fire, on_fire) = field(|f| f.fire.clone(), |f, v| f.fire = v);
    let (resolve, on_resolve) = field(|f| f.resolve.clone(), |f, v| f.resolve = v);
    let (for_s, on_for) = field(|f| f.for_s.clone(), |f, v| f.for_s = v);

    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let rule = form.get_untracked().to_rule();
        let existing = editing.get_untracked();
        leptos::task::spawn_local(async move {
            let result = match rule {
                Err(e) => Err(e),
                Ok(rule) => {
                    let sent = match &existing {
                        Some(id) => {
                            change(
                                session,
                                "PUT",
                                &format!("/api/rules/{}", encode(id)),
                                Some(&rule),
                            )
                            .await
                        }
                        None => change(session, "POST", "/api/rules", Some(&rule)).await,
                    };
                    sent.map(|_| {
                        editing.set(Some(rule.id.clone()));
                        format!("Saved rule {}.", rule.id)
                    })
                }
            };
            outcome.set(Some(result));
            reload.update(|n| *n += 1);
        });
    };
    let run_preview = move |_| {
        let rule = form.get_untracked().to_rule();
        leptos::task::spawn_local(async move {
            let result = match rule {
                Err(e) => Err(e),
                Ok(rule) => api::send_for::<_, RulePreview>(
                    "POST",
                    "/api/rules/preview",
                    Some(&rule),
                    session.csrf().as_deref(),
                )
                .await
                .map_err(|e| failure_text(&e)),
            };
            preview.set(Some(result));
        });
    };
    let remove = move |id: String| {
        leptos::task::spawn_local(async move {
            let result = change::<()>(
                session,
                "DELETE",
                &format!("/api/rules/{}", encode(&id)),
                None,
            )
            .await
            .map(|_| format!("Deleted rule {id}."));
            outcome.set(Some(result));
            reload.update(|n| *n += 1);
        });
    };
    let edit = move |rule: AlertRule| {
        form.set(RuleForm::from_rule(&rule));
        editing.set(Some(rule.id));
        outcome.set(None);
        preview.set(None);
    };
    let new_rule = move |_| {
        form.set(RuleForm::default());
        editing.set(None);
        outcome.set(None);
        preview.set(None);
    };

    view! {
        <section class="page-admin">
            <h2 data-testid="page-title">"Alert rules"</h2>
            {move || view_load(&list.get(), "rules", |l| l.is_empty(), move |rules| view! {
                <table class="data" data-testid="rules-table">
                    <thead><tr><th>"Rule"</th><th>"Series"</th><th>"Condition"</th><th>"For"</th><th></th></tr></thead>
                    <tbody>{rules.into_iter().map(|r| {
                        let (to_edit, to_remove) = (r.clone(), r.id.clone());
                        let c = &r.condition;
                        let threshold = |v: f64| if c.signal == "value" { format::metric_value(&r.metric, v) } else { v.to_string() };
                        let condition = format!("{} {} {}{}", c.signal, c.op, threshold(c.fire),
                            c.resolve.map(|v| format!(", resolves past {}", threshold(v))).unwrap_or_default());
                        view! {
                            <tr data-testid=format!("rule-{}", r.id)>
                                <td>{r.id.clone()}</td>
                                <td>{format!("{} {} {}", r.layer, r.entity, r.metric)}</td>
                                <td>{condition}</td>
                                <td>{format!("{} s", r.for_ms / 1000)}</td>
                                <td class="actions">
                                    <button type="button" data-testid=format!("edit-{}", r.id) on:click=move |_| edit(to_edit.clone())>"Edit"</button>
                                    <button type="button" on:click=move |_| remove(to_remove.clone())>"Delete"</button>
                                </td>
                            </tr>
                        }
                    }).collect_view()}</tbody>
                </table>
            }.into_any())}
            <h3>{move || editing.get().map_or("New rule".to_owned(), |id| format!("Edit rule {id}"))}</h3>
            <button type="button" on:click=new_rule>"New rule"</button>
            <form class="rule-form" on:submit=save data-testid="rule-form">
                <label>"Id "<input name="id" prop:value=id on:input=on_id
                    prop:readOnly=move || editing.get().is_some() /></label>
                <label>"Layer "<select name="layer" prop:value=layer on:change=on_layer>
                    {OsiLayer::ALL.map(|l| view! { <option value=l.as_str()>{l.as_str()}</option> }).collect_view()}
                </select></label>
                <label>"Entity or pattern "<input name="entity" prop:value=entity on:input=on_entity /></label>
                <label>"Metric "<select name="metric" prop:value=metric on:change=on_metric>
                    {METRIC_NAMES.map(|m| view! { <option value=m>{m}</option> }).collect_view()}
                </select></label>
                <label>"Signal "<select name="signal" prop:value=signal_ on:change=on_signal>
                    {SIGNALS.map(|s| view! { <option value=s>{s}</option> }).collect_view()}
                </select></label>
                <label>"Fires when "<select name="op" prop:value=op on:change=on_op>
                    {OPS.map(|o| view! { <option value=o>{o}</option> }).collect_view()}
                </select></label>
                <label>"Fire threshold "<input name="fire" inputmode="decimal" prop:value=fire on:input=on_fire /></label>
                <label>"Resolve threshold (optional) "<input name="resolve" inputmode="decimal" prop:value=resolve on:input=on_resolve /></label>
                <label>"For (seconds) "<input name="for" inputmode="decimal" prop:value=for_s on:input=on_for /></label>
                <div class="actions">
                    <button type="submit" data-testid="rule-save">"Save"</button>
                    <button type="button" data-testid="rule-preview" on:click=run_preview>"Preview (24 h)"</button>
                </div>
            </form>
            <Outcome outcome />
            {move || preview.get().map(|p| match p {
                Err(e) => view! { <p class="state error" data-testid="preview-error">"Preview: " {e}</p> }.into_any(),
                Ok(p) => view! {
                    <div data-testid="preview">
                        <p>{format!("Would have fired {} times over {} windows.", p.alerts.len(), p.windows)}</p>
                        {p.note.map(|n| view! { <p class="muted">{n}</p> })}
                        <ul>{p.alerts.into_iter().map(|a| view! {
                            <li>{format!("{} from {}{}: {}", a.entity, format::datetime_utc(a.since_ms),
                                a.until_ms.map(|u| format!(" to {}", format::datetime_utc(u))).unwrap_or_default(),
                                a.value)}</li>
                        }).collect_view()}</ul>
                    </div>
                }.into_any(),
            })}
        </section>
    }
}
