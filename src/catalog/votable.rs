//! Reading VOTables (IVOA VOTable 1.x, TABLEDATA serialisation) into DataFrames.
//!
//! In: a `.vot` / `.xml` file. Out: the first TABLE as a DataFrame: one column per FIELD (its
//! `name`), `double`/`float` as f64, `long`/`int`/`short`/`unsignedByte` as i64, `boolean` (and a single `bit`) as bool,
//! `char`/`unicodeChar` (and array-valued fields) as text; an empty cell is a missing value, as is
//! `NaN`. BINARY, BINARY2 and FITS serialisations are refused with an error saying how to convert.

use std::io::BufReader;
use std::path::Path;

use polars::prelude::*;
use quick_xml::events::Event;
use quick_xml::Reader;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Float,
    Int,
    Bool,
    Text,
}

struct Field {
    name: String,
    kind: Kind,
}

/// Read the first TABLE of a VOTable with TABLEDATA rows.
pub fn read_votable(path: &Path) -> Result<DataFrame> {
    let err = |m: String| Error::catalog(path.display().to_string(), m);
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = Reader::from_reader(BufReader::new(file));
    let mut buf = Vec::new();
    let mut fields: Vec<Field> = Vec::new();
    let mut cells: Vec<Vec<Option<String>>> = Vec::new();
    let (mut in_table, mut in_td, mut done, mut seen_votable) = (false, false, false, false);
    let mut row: Vec<Option<String>> = Vec::new();
    let mut text = String::new();
    loop {
        let event = reader.read_event_into(&mut buf).map_err(|e| {
            err(format!("not a readable VOTable (XML error at byte {}: {e})", reader.buffer_position()))
        })?;
        match event {
            Event::Eof => break,
            Event::Start(ref e) | Event::Empty(ref e) if !done => {
                let empty = matches!(event, Event::Empty(_));
                let tag = String::from_utf8_lossy(e.local_name().as_ref()).to_string();
                let attr = |key: &str| -> Option<String> {
                    e.attributes()
                        .flatten()
                        .find(|a| a.key.local_name().as_ref() == key.as_bytes())
                        .and_then(|a| a.unescape_value().ok().map(|v| v.to_string()))
                };
                match tag.as_str() {
                    "VOTABLE" => seen_votable = true,
                    "TABLE" => in_table = true,
                    "FIELD" if in_table => {
                        let name = attr("name").or_else(|| attr("ID")).unwrap_or_else(|| format!("col{}", fields.len() + 1));
                        let datatype = attr("datatype").unwrap_or_default();
                        let array = attr("arraysize").is_some();
                        let kind = match datatype.as_str() {
                            "char" | "unicodeChar" => Kind::Text,
                            _ if array => Kind::Text,
                            "double" | "float" => Kind::Float,
                            "long" | "int" | "short" | "unsignedByte" => Kind::Int,
                            "boolean" | "bit" => Kind::Bool,
                            _ => Kind::Text,
                        };
                        fields.push(Field { name, kind });
                    }
                    "TR" if in_table => row.clear(),
                    // `<TD/>`, an empty cell, has no End event.
                    "TD" if in_table && empty => row.push(None),
                    "TD" if in_table => {
                        text.clear();
                        in_td = true;
                    }
                    "BINARY" | "BINARY2" | "FITS" if in_table => {
                        return Err(err(format!(
                            "the table is serialised as {tag}; only TABLEDATA is read: re-save it as TABLEDATA \
                             (TOPCAT: format votable-tabledata; astropy: votable.writeto(t, path, tabledata_format='tabledata'))"
                        )))
                    }
                    _ => {}
                }
            }
            Event::Text(t) if in_td => {
                text.push_str(&t.decode().map_err(|e| err(format!("cell text: {e}")))?);
            }
            Event::CData(t) if in_td => {
                text.push_str(&String::from_utf8_lossy(&t));
            }
            Event::GeneralRef(r) if in_td => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    text.push(c);
                } else {
                    let name = r.decode().map_err(|e| err(format!("cell text: {e}")))?;
                    text.push_str(match name.as_ref() {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        other => return Err(err(format!("unknown entity &{other}; in a cell"))),
                    });
                }
            }
            Event::End(e) if !done => match e.local_name().as_ref() {
                b"TD" if in_td => {
                    let t = text.trim();
                    row.push((!t.is_empty()).then(|| t.to_string()));
                    in_td = false;
                }
                b"TR" if in_table => {
                    if row.len() != fields.len() {
                        return Err(err(format!(
                            "row {} has {} cells for {} fields",
                            cells.len(),
                            row.len(),
                            fields.len()
                        )));
                    }
                    cells.push(std::mem::take(&mut row));
                }
                b"TABLE" => {
                    in_table = false;
                    done = true;
                }
                _ => {}
            },
            _ => {}
        }
        buf.clear();
    }
    if !seen_votable {
        return Err(err("not a VOTable: no VOTABLE element".into()));
    }
    if fields.is_empty() {
        return Err(err("no TABLE with FIELDs".into()));
    }
    let n = cells.len();
    let mut columns = Vec::with_capacity(fields.len());
    for (k, f) in fields.iter().enumerate() {
        let values = cells.iter().map(|r| r[k].as_deref());
        let bad = |v: &str, what: &str| err(format!("field {:?}: {v:?} is not {what}", f.name));
        let column = match f.kind {
            Kind::Float => Column::new(
                f.name.as_str().into(),
                values
                    .map(|v| {
                        v.map(|s| s.parse::<f64>().map_err(|_| bad(s, "a number")))
                            .transpose()
                            .map(|x| x.filter(|x| !x.is_nan()))
                    })
                    .collect::<Result<Vec<Option<f64>>>>()?,
            ),
            Kind::Int => Column::new(
                f.name.as_str().into(),
                values
                    .map(|v| v.map(|s| s.parse::<i64>().map_err(|_| bad(s, "an integer"))).transpose())
                    .collect::<Result<Vec<Option<i64>>>>()?,
            ),
            Kind::Bool => Column::new(
                f.name.as_str().into(),
                values
                    .map(|v| match v.map(|s| s.to_ascii_lowercase()) {
                        None => Ok(None),
                        Some(s) if s == "t" || s == "true" || s == "1" => Ok(Some(true)),
                        Some(s) if s == "f" || s == "false" || s == "0" => Ok(Some(false)),
                        Some(s) if s == "?" => Ok(None),
                        Some(s) => Err(bad(&s, "a boolean")),
                    })
                    .collect::<Result<Vec<Option<bool>>>>()?,
            ),
            Kind::Text => Column::new(
                f.name.as_str().into(),
                values.map(|v| v.map(str::to_string)).collect::<Vec<Option<String>>>(),
            ),
        };
        columns.push(column);
    }
    DataFrame::new(n, columns).map_err(Error::from)
}
