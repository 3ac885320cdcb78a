//! Tables in notebooks: polars DataFrames display as HTML tables in Jupyter (evcxr calls
//! `evcxr_display` on a cell's final value; this trait, in the prelude, provides it).

use polars::prelude::{AnyValue, DataFrame};

/// Rows shown at each end of a long table.
const EDGE_ROWS: usize = 10;

/// HTML display of a table in an evcxr notebook. `use xcluster::prelude::*;` brings it into scope,
/// so a cell ending in a `DataFrame` (or `&DataFrame`) shows a table instead of polars' text.
pub trait NotebookDisplay {
    /// The table as an HTML fragment: shape, column names with types, the first and last rows.
    fn to_html(&self) -> String;

    /// evcxr's display hook.
    fn evcxr_display(&self) {
        println!("EVCXR_BEGIN_CONTENT text/html\n{}\nEVCXR_END_CONTENT", self.to_html());
    }
}

impl<T: NotebookDisplay> NotebookDisplay for &T {
    fn to_html(&self) -> String {
        (**self).to_html()
    }
}

/// A cell that ends in `stage()` or a polars query's `.collect()` (without `?`, which evcxr's display
/// does not accept) shows the value, or the error in red.
impl<T: NotebookDisplay, E: std::fmt::Display> NotebookDisplay for std::result::Result<T, E> {
    fn to_html(&self) -> String {
        match self {
            Ok(v) => v.to_html(),
            Err(e) => format!("<pre style=\"color:#b00\">error: {}</pre>", escape(&e.to_string())),
        }
    }
}

/// The HTML summary of a stage value: its type, its key numbers, and optionally its table.
pub(crate) fn card(title: &str, rows: &[(&str, String)], table: Option<&DataFrame>) -> String {
    let mut html = format!("<div><b>{}</b><table>", escape(title));
    for (key, value) in rows {
        html += &format!(
            "<tr><td style=\"text-align:left\">{}</td><td style=\"text-align:left\">{}</td></tr>",
            escape(key),
            escape(value)
        );
    }
    html += "</table>";
    if let Some(df) = table {
        html += &df.to_html();
    }
    html + "</div>"
}

/// The key numbers of a summary card, and its table.
pub(crate) type Summary = (Vec<(&'static str, String)>, Option<DataFrame>);

/// The rows of a summary, or its error: summaries are computed when shown, and a value that
/// cannot summarise itself says why instead of failing the cell.
pub(crate) fn card_or_error(title: &str, made: crate::error::Result<Summary>) -> String {
    match made {
        Ok((rows, table)) => card(title, &rows, table.as_ref()),
        Err(e) => card(title, &[("error", e.to_string())], None),
    }
}

impl NotebookDisplay for DataFrame {
    fn to_html(&self) -> String {
        let (rows, cols) = self.shape();
        let mut html = format!("<div><small>shape: ({rows}, {cols})</small><table class=\"dataframe\"><thead><tr>");
        for c in self.columns() {
            html += &format!("<th>{}<br><small>{}</small></th>", escape(c.name()), escape(&c.dtype().to_string()));
        }
        html += "</tr></thead><tbody>";
        let shown: Vec<usize> = if rows <= 2 * EDGE_ROWS {
            (0..rows).collect()
        } else {
            (0..EDGE_ROWS).chain(rows - EDGE_ROWS..rows).collect()
        };
        for (k, &row) in shown.iter().enumerate() {
            if k == EDGE_ROWS && rows > 2 * EDGE_ROWS {
                html += &format!("<tr>{}</tr>", "<td>…</td>".repeat(cols));
            }
            html += "<tr>";
            for c in self.columns() {
                let cell = c.get(row).map(|v| cell_text(&v)).unwrap_or_default();
                html += &format!("<td>{}</td>", escape(&cell));
            }
            html += "</tr>";
        }
        html + "</tbody></table></div>"
    }
}

/// A cell as text: strings unquoted, floats to 6 significant digits, nulls as `null`.
fn cell_text(v: &AnyValue) -> String {
    match v {
        AnyValue::Null => "null".into(),
        AnyValue::String(s) => (*s).to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        AnyValue::Float64(x) => float(*x),
        AnyValue::Float32(x) => float(*x as f64),
        other => other.to_string(),
    }
}

fn float(x: f64) -> String {
    if x == 0.0 || (1e-4..1e6).contains(&x.abs()) {
        let s = format!("{:.*}", (5 - x.abs().log10().floor().max(-5.0) as i32).clamp(0, 9) as usize, x);
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else if x.is_finite() {
        format!("{x:.5e}")
    } else {
        x.to_string()
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
