//! Parquet outputs, written with polars (the project's one table stack): genome tracks
//! (columns `chrom` (UTF-8), `start`, `end` (0-based, half-open, int64) and one float32 column per
//! track, in row groups of 65,536 bins), streamed tables of typed columns ([`TableWriter`], one
//! row group per write), and named matrices. Snappy-compressed; every file is atomic.

use std::path::Path;

use polars::io::parquet::write::BatchedWriter;
use polars::prelude::{
    Column as PlColumn, DataFrame, DataType, ParquetCompression, ParquetReader, ParquetWriter, SerReader,
};

use crate::error::{Error, Result};
use crate::io::atomic::AtomicFile;

/// One row: chromosome, start, end, one value per track.
pub type Row = (String, i64, i64, Vec<f32>);

const ROW_GROUP: usize = 1 << 16;

fn column_name(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

/// A polars error as an I/O error naming `path`.
fn perr(path: &Path) -> impl Fn(polars::prelude::PolarsError) -> Error + Copy + '_ {
    move |e| Error::io(path, std::io::Error::other(format!("parquet: {e}")))
}

/// One column of a [`write_table`] table.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// UTF-8 strings.
    Utf8(String, Vec<String>),
    /// 64-bit integers.
    Int64(String, Vec<i64>),
    /// Booleans.
    Bool(String, Vec<bool>),
    /// 64-bit floats.
    Float64(String, Vec<f64>),
}

impl Column {
    fn len(&self) -> usize {
        match self {
            Column::Utf8(_, v) => v.len(),
            Column::Int64(_, v) => v.len(),
            Column::Bool(_, v) => v.len(),
            Column::Float64(_, v) => v.len(),
        }
    }

    fn to_polars(&self) -> PlColumn {
        match self {
            Column::Utf8(n, v) => PlColumn::new(n.as_str().into(), v),
            Column::Int64(n, v) => PlColumn::new(n.as_str().into(), v),
            Column::Bool(n, v) => PlColumn::new(n.as_str().into(), v),
            Column::Float64(n, v) => PlColumn::new(n.as_str().into(), v),
        }
    }
}

/// A frame of `columns` (equal lengths checked).
fn frame(columns: Vec<PlColumn>, path: &Path) -> Result<DataFrame> {
    DataFrame::new_infer_height(columns).map_err(perr(path))
}

/// A parquet file written a frame (row group) at a time, then committed atomically.
struct Batched {
    path: std::path::PathBuf,
    out: AtomicFile,
    writer: BatchedWriter<std::fs::File>,
}

impl Batched {
    fn create(path: &Path, like: &DataFrame) -> Result<Self> {
        let mut out = AtomicFile::create(path)?;
        let file = out.file().try_clone().map_err(|e| Error::io(path, e))?;
        let writer = ParquetWriter::new(file)
            .with_compression(ParquetCompression::Snappy)
            .with_row_group_size(Some(ROW_GROUP))
            .set_parallel(false)
            .batched(like.schema())
            .map_err(perr(path))?;
        Ok(Self { path: path.to_path_buf(), out, writer })
    }

    fn write(&mut self, df: &DataFrame) -> Result<()> {
        if df.height() == 0 {
            return Ok(());
        }
        self.writer.write_batch(df).map_err(perr(&self.path))
    }

    fn finish(self) -> Result<()> {
        self.writer.finish().map_err(perr(&self.path))?;
        self.out.commit()
    }
}

/// A parquet table written one row group at a time (memory bound by one group), column names
/// kept exactly as given (e.g. `SAD:CNhs11760`). Atomic: the file appears on [`TableWriter::finish`].
pub struct TableWriter {
    inner: Batched,
    like: Vec<Column>,
}

impl TableWriter {
    /// Creates the table with the names and types of `like` (its values are not written).
    pub fn create(path: &Path, like: &[Column]) -> Result<Self> {
        let empty: Vec<Column> = like
            .iter()
            .map(|c| match c {
                Column::Utf8(n, _) => Column::Utf8(n.clone(), vec![]),
                Column::Int64(n, _) => Column::Int64(n.clone(), vec![]),
                Column::Bool(n, _) => Column::Bool(n.clone(), vec![]),
                Column::Float64(n, _) => Column::Float64(n.clone(), vec![]),
            })
            .collect();
        let df = frame(empty.iter().map(Column::to_polars).collect(), path)?;
        Ok(Self { inner: Batched::create(path, &df)?, like: empty })
    }

    /// Writes one row group: columns of equal length, in the order and types of the schema.
    pub fn write(&mut self, columns: &[Column]) -> Result<()> {
        let n = columns.first().map(Column::len).unwrap_or(0);
        let same = columns.len() == self.like.len()
            && columns.iter().zip(&self.like).all(|(a, b)| std::mem::discriminant(a) == std::mem::discriminant(b));
        if columns.iter().any(|c| c.len() != n) || !same {
            return Err(Error::InvalidArgument("table row group does not match the schema".into()));
        }
        let df = frame(columns.iter().map(Column::to_polars).collect(), &self.inner.path)?;
        self.inner.write(&df)
    }

    /// Closes the table and moves it to its path.
    pub fn finish(self) -> Result<()> {
        self.inner.finish()
    }
}

/// Writes a table (columns of equal length) as one row group; see [`TableWriter`].
pub fn write_table(path: &Path, columns: &[Column]) -> Result<()> {
    let mut w = TableWriter::create(path, columns)?;
    w.write(columns)?;
    w.finish()
}

/// The frame of a group of track rows (`tracks` value columns, float32).
fn rows_frame(buf: &[Row], names: &[String], path: &Path) -> Result<DataFrame> {
    let mut cols = vec![
        PlColumn::new("chrom".into(), buf.iter().map(|r| r.0.as_str()).collect::<Vec<_>>()),
        PlColumn::new("start".into(), buf.iter().map(|r| r.1).collect::<Vec<i64>>()),
        PlColumn::new("end".into(), buf.iter().map(|r| r.2).collect::<Vec<i64>>()),
    ];
    for (k, n) in names.iter().enumerate() {
        cols.push(PlColumn::new(n.as_str().into(), buf.iter().map(|r| r.3[k]).collect::<Vec<f32>>()));
    }
    frame(cols, path)
}

/// Writes `rows` to `path` atomically; `tracks` names the value columns (sanitised to
/// `[A-Za-z0-9_]`).
pub fn write_parquet<I: Iterator<Item = Result<Row>>>(path: &Path, tracks: &[String], rows: I) -> Result<()> {
    let names: Vec<String> = tracks.iter().map(|t| column_name(t)).collect();
    let mut writer = Batched::create(path, &rows_frame(&[], &names, path)?)?;
    let mut buf: Vec<Row> = Vec::with_capacity(ROW_GROUP);
    for row in rows {
        let row = row?;
        if row.3.len() != tracks.len() {
            return Err(Error::InvalidArgument(format!("row with {} values for {} tracks", row.3.len(), tracks.len())));
        }
        buf.push(row);
        if buf.len() == ROW_GROUP {
            writer.write(&rows_frame(&buf, &names, path)?)?;
            buf.clear();
        }
    }
    writer.write(&rows_frame(&buf, &names, path)?)?;
    writer.finish()
}

/// Writes a named matrix as one parquet row group: a UTF-8 column `index` holding `rows`, then
/// one float64 column per name in `cols` (names sanitised as in [`write_parquet`]). Atomic.
pub fn write_matrix(
    path: &Path,
    index: &str,
    rows: &[String],
    cols: &[String],
    v: &ndarray::Array2<f64>,
) -> Result<()> {
    if v.dim() != (rows.len(), cols.len()) {
        return Err(Error::InvalidArgument(format!(
            "a {:?} matrix with {} row and {} column names",
            v.dim(),
            rows.len(),
            cols.len()
        )));
    }
    let mut columns = vec![Column::Utf8(column_name(index), rows.to_vec())];
    for (j, c) in cols.iter().enumerate() {
        columns.push(Column::Float64(column_name(c), v.column(j).to_vec()));
    }
    write_table(path, &columns)
}

/// Reads a track parquet back as rows (for checks and small files).
pub fn read_parquet(path: &Path) -> Result<(Vec<String>, Vec<Row>)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let df = ParquetReader::new(file).finish().map_err(perr(path))?;
    let bad = |m: String| Error::malformed(path, "parquet", m);
    let names: Vec<String> = df.get_column_names().into_iter().map(|s| s.to_string()).collect();
    if names.len() < 3 || names[..3] != ["chrom", "start", "end"] {
        return Err(bad(format!("not a track table (columns {names:?})")));
    }
    let get = |n: &str, t: &DataType| df.column(n).and_then(|c| c.cast(t)).map_err(perr(path));
    let chrom = get("chrom", &DataType::String)?;
    let start = get("start", &DataType::Int64)?;
    let end = get("end", &DataType::Int64)?;
    let values: Vec<PlColumn> = names[3..].iter().map(|n| get(n, &DataType::Float32)).collect::<Result<_>>()?;
    let (chrom, start, end) =
        (chrom.str().map_err(perr(path))?, start.i64().map_err(perr(path))?, end.i64().map_err(perr(path))?);
    let values = values.iter().map(|c| c.f32().map_err(perr(path))).collect::<Result<Vec<_>>>()?;
    let mut rows = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let missing = || bad(format!("row {} has an empty field", i + 1));
        let vals = values.iter().map(|c| c.get(i).ok_or_else(missing)).collect::<Result<Vec<f32>>>()?;
        rows.push((
            chrom.get(i).ok_or_else(missing)?.to_string(),
            start.get(i).ok_or_else(missing)?,
            end.get(i).ok_or_else(missing)?,
            vals,
        ));
    }
    Ok((names[3..].to_vec(), rows))
}
