//! `/alerts`: firing and pending alerts, live; their history; filters; acknowledge and silence
//! for admins (a viewer sees neither button, and the server refuses a viewer anyway).

use layercast_shared::{Alert, AlertChange, AlertStatus, OsiLayer, SilenceRequest};
use leptos::prelude::*;

use crate::api;
use crate::format;
use crate::live::use_live_feed;
use crate::model::alerts::{can_ack, AlertFilter};
use crate::model::route::Page;
use crate::remote::{load, now_ms, view_load, Load};
use crate::session::use_session;

/// How far back the history reaches.
const HISTORY_MS: i64 = 24 * 3_600_000;
/// How long the silence button silences.
const SILENCE_MS: i64 = 3_600_000;

#[component]
pub fn AlertsPage() -> impl IntoView {
    let feed = use_live_feed();
    let session = use_session();
    // Bumped after an action, so the list is read again.
    let reload = RwSignal::new(0_u32);
    let loaded = load::<Vec<Alert>>(move || {
        reload.get();
        "/api/alerts?state=all".to_owned()
    });
    let history = load::<Vec<AlertChange>>(move || {
        reload.get();
        feed.alerts.track();
        let to = now_ms();
        format!("/api/alerts/history?from={}&to={to}", to - HISTORY_MS)
    });
    let state = RwSignal::new(String::new());
    let layer = RwSignal::new(String::new());
    let text = RwSignal::new(String::new());
    let message = RwSignal::new(None::<String>);
    let filter = Memo::new(move |_| AlertFilter {
        state: AlertStatus::parse(&state.get()),
        layer: layer.get().parse().ok(),
        text: text.get(),
    });
    let alerts = Memo::new(move |_| {
        loaded.with(|l| match l {
            Load::Ready(rest) => Load::Ready(feed.alerts.with(|live| live.merged(rest).sorted())),
            Load::Loading => Load::Loading,
            Load::Failed(e) => Load::Failed(e.clone()),
        })
    });

    let act = move |id: String, silence: bool| {
        let csrf = session.csrf();
        leptos::task::spawn_local(async move {
            let path = format!(
                "/api/alerts/{}/{}",
                crate::model::route::encode(&id),
                if silence { "silence" } else { "ack" }
            );
            let result = if silence {
                let body = SilenceRequest {
                    until: now_ms() + SILENCE_MS,
                };
                api::send_json("POST", &path, Some(&body), csrf.as_deref()).await
            } else {
                api::send_json::<()>("POST", &path, None, csrf.as_deref()).await
            };
            match result {
                Ok(_) => {
                    message.set(None);
                    reload.update(|n| *n += 1);
                }
                Err(e) => message.set(Some(e.message)),
            }
        });
    };

    view! {
        <section class="page-alerts">
            <h2 data-testid="page-title">"Alerts"</h2>
            <div class="filters">
                <label>"State "
                    <select data-testid="filter-state" bind:value=state>
                        <option value="">"firing and pending"</option>
                        <option value="firing">"firing"</option>
                        <option value="pending">"pending"</option>
                        <option value="resolved">"resolved"</option>
                    </select>
                </label>
                <label>"Layer "
                    <select data-testid="filter-layer" bind:value=layer>
                        <option value="">"all"</option>
                        {OsiLayer::ALL.map(|l| view! { <option value=l.as_str()>{l.as_str()}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Search "<input type="search" data-testid="filter-text" bind:value=text /></label>
            </div>
            <Show when=move || message.get().is_some()>
                <p class="state error" role="alert">{move || message.get().unwrap_or_default()}</p>
            </Show>
            {move || view_load(&alerts.get(), "alerts", |_| false, move |all| {
                let f = filter.get();
                let shown: Vec<Alert> = all.into_iter().filter(|a| f.keeps(a)).collect();
                if shown.is_empty() {
                    return view! { <p class="state empty" data-testid="state-empty">"No alert matches."</p> }.into_any();
                }
                let admin = session.is_admin();
                view! {
                    <table class="data" data-testid="alerts-table">
                        <thead><tr>
                            <th>"State"</th><th>"Rule"</th><th>"Series"</th><th>"Value"</th>
                            <th>"Threshold"</th><th>"Since"</th><th>"Precursor"</th><th></th>
                        </tr></thead>
                        <tbody>
                            {shown.into_iter().map(|a| {
                                let href = Page::Entity { layer: a.layer, entity: a.entity.clone() }.href();
                                let (ack_id, silence_id) = (a.id.clone(), a.id.clone());
                                let acked = a.acknowledged.then(|| format!("acknowledged{}", a.acknowledged_by.as_ref().map(|b| format!(" by {b}")).unwrap_or_default()));
                                let silenced = a.silenced_until_ms.filter(|t| *t > now_ms()).map(|t| format!("silenced until {}", format::datetime_utc(t)));
                                view! {
                                    <tr data-testid=format!("alert-{}", a.id)>
                                        <td><span class=format!("badge state-{}", a.state.as_str())
                                            data-testid=format!("alert-state-{}", a.id)>{a.state.as_str()}</span>
                                            <small data-testid=format!("alert-ack-{}", a.id)>{acked}</small>
                                            <small>{silenced}</small></td>
                                        <td>{a.rule.clone()}</td>
                                        <td><a href=href>{format!("{} {} {}", a.layer, if a.entity.is_empty() { "(layer)" } else { &a.entity }, a.metric)}</a></td>
                                        <td class="num">{format::metric_value(&a.metric, a.value)}</td>
                                        <td class="num">{format::metric_value(&a.metric, a.threshold)}</td>
                                        <td>{format::datetime_utc(a.since_ms)}</td>
                                        <td>{a.precursor.as_ref().map(|p| format!("{} {} {} ({} s before)", p.layer, p.entity, p.metric, p.lag_ms / 1000))}</td>
                                        <td class="actions">
                                            {can_ack(&a, admin).then(|| view! {
                                                <button type="button" data-testid=format!("ack-{}", a.id)
                                                    on:click=move |_| act(ack_id.clone(), false)>"Acknowledge"</button>
                                            })}
                                            {(admin && a.state != AlertStatus::Resolved).then(|| view! {
                                                <button type="button" data-testid=format!("silence-{}", a.id)
                                                    on:click=move |_| act(silence_id.clone(), true)>"Silence 1 h"</button>
                                            })}
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            })}
            <h3>"History (24 hours)"</h3>
            {move || view_load(&history.get(), "alert changes", |h| h.is_empty(), |mut changes| {
                changes.sort_by_key(|c| std::cmp::Reverse(c.at_ms));
                view! {
                    <table class="data" data-testid="alert-history">
                        <thead><tr><th>"At"</th><th>"Rule"</th><th>"Series"</th><th>"Change"</th><th>"Value"</th><th>"Notified"</th></tr></thead>
                        <tbody>{changes.into_iter().map(|c| view! {
                            <tr>
                                <td>{format::datetime_utc(c.at_ms)}</td>
                                <td>{c.rule.clone()}</td>
                                <td>{format!("{} {} {}", c.layer, c.entity, c.metric)}</td>
                                <td>{format!("{} → {}", c.from, c.to.as_str())}</td>
                                <td class="num">{format::metric_value(&c.metric, c.value)}</td>
                                <td>{if c.notify { "yes" } else { "silenced" }}</td>
                            </tr>
                        }).collect_view()}</tbody>
                    </table>
                }.into_any()
            })}
        </section>
    }
}
