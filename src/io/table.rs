//! Tables through polars: reading and writing parquet, TSV and CSV by file extension, and the
//! conversions between polars frames and the f64 matrices the gene read-outs compute on.
//!
//! Formats: `.parquet` (snappy), `.csv` (comma) and anything else as tab-separated text with a
//! header (`.tsv`, `.txt`, `.tsv.gz` is not supported). Text is read with every column's type
//! inferred from the whole file, so a number after many text values is seen. Writes are atomic:
//! the file appears complete or not at all.

use std::path::Path;

use ndarray::Array2;
use polars::prelude::*;

use crate::error::{Error, Result};

/// A table file's format, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Apache Parquet.
    Parquet,
    /// Comma-separated text.
    Csv,
    /// Tab-separated text.
    Tsv,
}

impl Format {
    /// `.parquet` → Parquet, `.csv` → CSV, anything else → TSV.
    pub fn of(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref() {
            Some("parquet") | Some("pq") => Format::Parquet,
            Some("csv") => Format::Csv,
            _ => Format::Tsv,
        }
    }
}

/// Checks an output table path before long work: a known extension (`.parquet`, `.pq`, `.csv`,
/// `.tsv`, `.txt`) and an existing parent folder.
pub fn check_output(path: &Path) -> Result<()> {
    let ext = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase());
    if !matches!(ext.as_deref(), Some("parquet" | "pq" | "csv" | "tsv" | "txt")) {
        return Err(Error::InvalidArgument(format!(
            "{}: name the output file .parquet, .tsv or .csv (the extension chooses the format)",
            path.display()
        )));
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(Error::io(path, std::io::Error::new(std::io::ErrorKind::NotFound, "its folder does not exist")));
    }
    Ok(())
}

/// A polars error as an error naming `path`.
pub fn perr(path: &Path, e: PolarsError) -> Error {
    Error::malformed(path, "table", e.to_string())
}

/// Reads a table (format by extension).
pub fn read(path: &Path) -> Result<DataFrame> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz") || e.eq_ignore_ascii_case("bgz")) {
        return Err(Error::malformed(path, "file", "compressed tables are not read; decompress it or use parquet"));
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let df = match Format::of(path) {
        Format::Parquet => ParquetReader::new(file).finish(),
        f => {
            let sep = if f == Format::Csv { b',' } else { b'\t' };
            CsvReadOptions::default()
                .with_has_header(true)
                .with_infer_schema_length(None)
                .with_parse_options(CsvParseOptions::default().with_separator(sep))
                .into_reader_with_file_handle(file)
                .finish()
        }
    }
    .map_err(|e| perr(path, e))?;
    if df.width() == 0 {
        return Err(Error::Empty { path: path.into(), what: "a table without columns".into() });
    }
    Ok(df)
}

/// Writes `df` to `path` (format by extension), atomically.
pub fn write(df: &mut DataFrame, path: &Path) -> Result<()> {
    let mut out = crate::io::atomic::AtomicFile::create(path)?;
    let fmt = Format::of(path);
    {
        let file = out.file();
        match fmt {
            Format::Parquet => {
                ParquetWriter::new(file).with_compression(ParquetCompression::Snappy).finish(df).map(|_| ())
            }
            f => CsvWriter::new(file)
                .include_header(true)
                .with_separator(if f == Format::Csv { b',' } else { b'\t' })
                .with_float_scientific(None)
                .finish(df),
        }
        .map_err(|e| perr(path, e))?;
    }
    out.commit()
}

/// The names of a frame's columns.
pub fn names(df: &DataFrame) -> Vec<String> {
    df.get_column_names().into_iter().map(|s| s.to_string()).collect()
}

/// The error of a missing column: the columns present, and a hint when the header looks
/// separated by another delimiter than the extension says.
fn no_column(df: &DataFrame, name: &str, path: &Path) -> Error {
    let have = names(df);
    let hint = match (have.as_slice(), Format::of(path)) {
        ([one], Format::Tsv) if one.contains(',') => " — the file looks comma-separated: name it .csv",
        ([one], Format::Csv) if one.contains('\t') => " — the file looks tab-separated: name it .tsv",
        _ => "",
    };
    Error::malformed(path, "header", format!("no column {name:?} (columns: {}){hint}", have.join(", ")))
}

/// Column `name` as text (numbers are written as text); a missing value is an error naming
/// its row (1-based, header excluded).
pub fn strings(df: &DataFrame, name: &str, path: &Path) -> Result<Vec<String>> {
    let col = df.column(name).map_err(|_| no_column(df, name, path))?;
    let s = col.cast(&DataType::String).map_err(|e| perr(path, e))?;
    let ca = s.str().map_err(|e| perr(path, e))?;
    ca.iter()
        .enumerate()
        .map(|(i, v)| {
            v.map(str::to_string)
                .ok_or_else(|| Error::malformed(path, format!("row {}", i + 1), format!("column {name:?} is empty")))
        })
        .collect()
}

/// Whether a column holds numbers (integers or floats).
pub fn is_numeric(df: &DataFrame, name: &str) -> bool {
    df.column(name).map(|c| c.dtype().is_primitive_numeric()).unwrap_or(false)
}

/// A text column that looks like numbers with some values that are not: the first such value
/// and its row (1-based), so a table with `NA` or `1,5` in a numeric column is refused instead of
/// the column being silently taken as a label.
pub fn non_numeric_value(df: &DataFrame, name: &str) -> Option<(usize, String)> {
    let col = df.column(name).ok()?;
    let ca = col.str().ok()?;
    let mut numbers = 0usize;
    let mut first_bad = None;
    for (i, v) in ca.iter().enumerate() {
        match v {
            Some(t) if t.trim().parse::<f64>().is_ok() => numbers += 1,
            Some(t) if first_bad.is_none() => first_bad = Some((i + 1, t.to_string())),
            None if first_bad.is_none() => first_bad = Some((i + 1, String::new())),
            _ => {}
        }
    }
    if numbers > 0 {
        first_bad
    } else {
        None
    }
}

/// Columns `cols` as a rows × columns f64 matrix; a missing or non-finite value, or a column that
/// is not numeric, is an error naming the row and column.
pub fn matrix(df: &DataFrame, cols: &[String], path: &Path, row_names: &[String]) -> Result<Array2<f64>> {
    let n = df.height();
    let mut m = Array2::<f64>::zeros((n, cols.len()));
    for (j, name) in cols.iter().enumerate() {
        let col = df.column(name).map_err(|_| no_column(df, name, path))?;
        if !col.dtype().is_primitive_numeric() {
            let at = non_numeric_value(df, name).map(|(r, v)| format!(" (row {r}: {v:?})")).unwrap_or_default();
            return Err(Error::malformed(path, format!("column {name:?}"), format!("not numeric{at}")));
        }
        let s = col.cast(&DataType::Float64).map_err(|e| perr(path, e))?;
        let ca = s.f64().map_err(|e| perr(path, e))?;
        for (i, v) in ca.iter().enumerate() {
            let row = || row_names.get(i).cloned().unwrap_or_else(|| format!("row {}", i + 1));
            match v {
                Some(x) if x.is_finite() => m[(i, j)] = x,
                Some(x) => {
                    return Err(Error::malformed(path, format!("column {name:?}"), format!("{} holds {x}", row())))
                }
                None => {
                    return Err(Error::malformed(path, format!("column {name:?}"), format!("{} has no value", row())))
                }
            }
        }
    }
    Ok(m)
}

/// Column `name` as text with missing values as empty strings; an absent column is all empty.
pub fn strings_or_empty(df: &DataFrame, name: &str, path: &Path) -> Result<Vec<String>> {
    let Ok(col) = df.column(name) else { return Ok(vec![String::new(); df.height()]) };
    let s = col.cast(&DataType::String).map_err(|e| perr(path, e))?;
    let ca = s.str().map_err(|e| perr(path, e))?;
    Ok(ca.iter().map(|v| v.unwrap_or("").to_string()).collect())
}

/// A frame of named text columns followed by named f64 columns (all of `values`' rows).
pub fn frame(text: Vec<(String, Vec<String>)>, numbers: Vec<(String, Vec<f64>)>) -> Result<DataFrame> {
    let mut cols: Vec<Column> = Vec::with_capacity(text.len() + numbers.len());
    for (name, v) in text {
        cols.push(Column::new(name.into(), v));
    }
    for (name, v) in numbers {
        cols.push(Column::new(name.into(), v));
    }
    DataFrame::new_infer_height(cols).map_err(|e| Error::InvalidArgument(format!("table: {e}")))
}

/// Adds an i64 column at the end.
pub fn push_i64(df: &mut DataFrame, name: &str, v: Vec<i64>) -> Result<()> {
    df.with_column(Column::new(name.into(), v)).map_err(|e| Error::InvalidArgument(format!("table: {e}")))?;
    Ok(())
}

/// Adds an f64 column at the end.
pub fn push_f64(df: &mut DataFrame, name: &str, v: Vec<f64>) -> Result<()> {
    df.with_column(Column::new(name.into(), v)).map_err(|e| Error::InvalidArgument(format!("table: {e}")))?;
    Ok(())
}

/// `df` with i64 columns added at the end.
pub fn with_i64(mut df: DataFrame, cols: Vec<(&str, Vec<i64>)>) -> Result<DataFrame> {
    for (n, v) in cols {
        push_i64(&mut df, n, v)?;
    }
    Ok(df)
}

/// The values of `ids` that occur more than once, in first-occurrence order.
pub fn duplicates(ids: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut dup = Vec::new();
    for id in ids {
        if !seen.insert(id.as_str()) && !dup.contains(id) {
            dup.push(id.clone());
        }
    }
    dup
}
