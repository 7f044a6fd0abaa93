//! A uPlot chart, drawn by `js/charts.js`. Created once when mounted; every later change of
//! `data` replaces its columns in place (batched per animation frame on the JS side), never
//! re-creating it.

use leptos::html::Div;
use leptos::prelude::*;
use wasm_bindgen::prelude::*;

use crate::model::chart_data::{ChartData, ChartSpec};

#[wasm_bindgen(module = "/js/charts.js")]
extern "C" {
    #[wasm_bindgen(js_name = createChart)]
    fn create_chart(el: &web_sys::HtmlElement, id: &str, spec: &str, data: &str);
    #[wasm_bindgen(js_name = updateChart)]
    fn update_chart(id: &str, data: &str);
    #[wasm_bindgen(js_name = destroyChart)]
    fn destroy_chart(id: &str);
}

/// A chart.
///
/// - `id`: unique on the page; names the chart in `window.__layercastCharts` and its
///   `data-testid` (`chart-{id}`).
/// - `spec`: series, units, colours, fixed for the chart's life.
/// - `data`: the columns; each change is drawn at the next animation frame.
#[component]
pub fn Chart(
    #[prop(into)] id: String,
    spec: ChartSpec,
    #[prop(into)] data: Signal<ChartData>,
) -> impl IntoView {
    let node = NodeRef::<Div>::new();
    let created = StoredValue::new(false);
    let label = spec.title.clone();
    let spec_json = serde_json::to_string(&spec).unwrap_or_default();
    let chart_id = id.clone();
    Effect::new(move |_| {
        let columns = data.get();
        let Some(el) = node.get() else { return };
        let json = match serde_json::to_string(&columns) {
            Ok(json) => json,
            Err(e) => {
                leptos::logging::error!("chart {chart_id}: {e}");
                return;
            }
        };
        if created.get_value() {
            update_chart(&chart_id, &json);
        } else {
            create_chart(&el, &chart_id, &spec_json, &json);
            created.set_value(true);
        }
    });
    let cleanup_id = id.clone();
    on_cleanup(move || destroy_chart(&cleanup_id));
    view! {
        <div class="chart" node_ref=node data-testid=format!("chart-{id}") role="img"
            aria-label=label></div>
    }
}
