//! Parquet output of genome tracks: columns `chrom` (UTF-8), `start`, `end` (0-based, half-open,
//! int64) and one float32 column per track, snappy-compressed, in row groups of 65,536 bins.
//! Written with the `parquet` crate's column writers (no Arrow dependency).

use std::path::Path;
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, FloatType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

use crate::error::{Error, Result};
use crate::io::atomic::AtomicFile;

/// One row: chromosome, start, end, one value per track.
pub type Row = (String, i64, i64, Vec<f32>);

const ROW_GROUP: usize = 1 << 16;

fn column_name(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

/// Errors of the parquet crate as I/O errors naming `path`.
fn perr_at(path: &Path) -> impl Fn(parquet::errors::ParquetError) -> Error + Copy + '_ {
    move |e| Error::io(path, std::io::Error::other(format!("parquet: {e}")))
}

/// An atomic output at `path` and a snappy-compressed parquet writer of `schema` (message-type
/// text) into it; commit the file after closing the writer.
fn open_writer(path: &Path, schema: &str) -> Result<(AtomicFile, SerializedFileWriter<std::fs::File>)> {
    let perr = perr_at(path);
    let schema = Arc::new(parse_message_type(schema).map_err(perr)?);
    let props = Arc::new(WriterProperties::builder().set_compression(Compression::SNAPPY).build());
    let mut out = AtomicFile::create(path)?;
    let file = out.file().try_clone().map_err(|e| Error::io(path, e))?;
    let writer = SerializedFileWriter::new(file, schema, props).map_err(perr)?;
    Ok((out, writer))
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
}

/// A parquet table written one row group at a time (memory bound by one group), column names
/// kept exactly as given (e.g. `SAD:CNhs11760`). Atomic: the file appears on [`TableWriter::finish`].
pub struct TableWriter {
    path: std::path::PathBuf,
    out: AtomicFile,
    writer: SerializedFileWriter<std::fs::File>,
    kinds: Vec<std::mem::Discriminant<Column>>,
}

impl TableWriter {
    /// Creates the table with the names and types of `like` (its values are not written).
    pub fn create(path: &Path, like: &[Column]) -> Result<Self> {
        use parquet::basic::{ConvertedType, Repetition, Type as Physical};
        use parquet::schema::types::Type;
        let perr = perr_at(path);
        let fields = like
            .iter()
            .map(|c| {
                let (name, physical, converted) = match c {
                    Column::Utf8(n, _) => (n, Physical::BYTE_ARRAY, ConvertedType::UTF8),
                    Column::Int64(n, _) => (n, Physical::INT64, ConvertedType::NONE),
                    Column::Bool(n, _) => (n, Physical::BOOLEAN, ConvertedType::NONE),
                    Column::Float64(n, _) => (n, Physical::DOUBLE, ConvertedType::NONE),
                };
                Type::primitive_type_builder(name, physical)
                    .with_repetition(Repetition::REQUIRED)
                    .with_converted_type(converted)
                    .build()
                    .map(Arc::new)
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(perr)?;
        let schema = Arc::new(Type::group_type_builder("table").with_fields(fields).build().map_err(perr)?);
        let props = Arc::new(WriterProperties::builder().set_compression(Compression::SNAPPY).build());
        let mut out = AtomicFile::create(path)?;
        let file = out.file().try_clone().map_err(|e| Error::io(path, e))?;
        let writer = SerializedFileWriter::new(file, schema, props).map_err(perr)?;
        let kinds = like.iter().map(std::mem::discriminant).collect();
        Ok(Self { path: path.to_path_buf(), out, writer, kinds })
    }

    /// Writes one row group: columns of equal length, in the order and types of the schema.
    pub fn write(&mut self, columns: &[Column]) -> Result<()> {
        let perr = perr_at(&self.path);
        let n = columns.first().map(Column::len).unwrap_or(0);
        let kinds: Vec<_> = columns.iter().map(std::mem::discriminant).collect();
        if columns.iter().any(|c| c.len() != n) || kinds != self.kinds {
            return Err(Error::InvalidArgument("table row group does not match the schema".into()));
        }
        if n == 0 {
            return Ok(());
        }
        let mut rg = self.writer.next_row_group().map_err(perr)?;
        let mut k = 0usize;
        while let Some(mut c) = rg.next_column().map_err(perr)? {
            match &columns[k] {
                Column::Utf8(_, v) => {
                    let v: Vec<ByteArray> = v.iter().map(|s| ByteArray::from(s.as_str())).collect();
                    c.typed::<ByteArrayType>().write_batch(&v, None, None).map_err(perr)?;
                }
                Column::Int64(_, v) => {
                    c.typed::<Int64Type>().write_batch(v, None, None).map_err(perr)?;
                }
                Column::Bool(_, v) => {
                    c.typed::<parquet::data_type::BoolType>().write_batch(v, None, None).map_err(perr)?;
                }
                Column::Float64(_, v) => {
                    c.typed::<parquet::data_type::DoubleType>().write_batch(v, None, None).map_err(perr)?;
                }
            }
            c.close().map_err(perr)?;
            k += 1;
        }
        rg.close().map_err(perr)?;
        Ok(())
    }

    /// Closes the table and moves it to its path.
    pub fn finish(self) -> Result<()> {
        self.writer.close().map_err(perr_at(&self.path))?;
        self.out.commit()
    }
}

/// Writes a table (columns of equal length) as one row group; see [`TableWriter`].
pub fn write_table(path: &Path, columns: &[Column]) -> Result<()> {
    let mut w = TableWriter::create(path, columns)?;
    w.write(columns)?;
    w.finish()
}

/// Writes `rows` to `path` atomically; `tracks` names the value columns.
pub fn write_parquet<I: Iterator<Item = Result<Row>>>(path: &Path, tracks: &[String], rows: I) -> Result<()> {
    let perr = perr_at(path);
    let mut schema = String::from(
        "message predictions { REQUIRED BYTE_ARRAY chrom (UTF8); REQUIRED INT64 start; REQUIRED INT64 end;",
    );
    for t in tracks {
        schema.push_str(&format!(" REQUIRED FLOAT {};", column_name(t)));
    }
    schema.push_str(" }");
    let (out, mut writer) = open_writer(path, &schema)?;
    let mut buf: Vec<Row> = Vec::with_capacity(ROW_GROUP);
    let flush = |buf: &mut Vec<Row>, writer: &mut SerializedFileWriter<std::fs::File>| -> Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let mut rg = writer.next_row_group().map_err(perr)?;
        let mut col = 0usize;
        while let Some(mut c) = rg.next_column().map_err(perr)? {
            match col {
                0 => {
                    let v: Vec<ByteArray> = buf.iter().map(|r| ByteArray::from(r.0.as_str())).collect();
                    c.typed::<ByteArrayType>().write_batch(&v, None, None).map_err(perr)?;
                }
                1 | 2 => {
                    let v: Vec<i64> = buf.iter().map(|r| if col == 1 { r.1 } else { r.2 }).collect();
                    c.typed::<Int64Type>().write_batch(&v, None, None).map_err(perr)?;
                }
                k => {
                    let v: Vec<f32> = buf.iter().map(|r| r.3[k - 3]).collect();
                    c.typed::<FloatType>().write_batch(&v, None, None).map_err(perr)?;
                }
            }
            c.close().map_err(perr)?;
            col += 1;
        }
        rg.close().map_err(perr)?;
        buf.clear();
        Ok(())
    };
    for row in rows {
        let row = row?;
        if row.3.len() != tracks.len() {
            return Err(Error::InvalidArgument(format!("row with {} values for {} tracks", row.3.len(), tracks.len())));
        }
        buf.push(row);
        if buf.len() == ROW_GROUP {
            flush(&mut buf, &mut writer)?;
        }
    }
    flush(&mut buf, &mut writer)?;
    writer.close().map_err(perr)?;
    out.commit()
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
    let perr = perr_at(path);
    if v.dim() != (rows.len(), cols.len()) {
        return Err(Error::InvalidArgument(format!(
            "a {:?} matrix with {} row and {} column names",
            v.dim(),
            rows.len(),
            cols.len()
        )));
    }
    let mut schema = format!("message table {{ REQUIRED BYTE_ARRAY {} (UTF8);", column_name(index));
    for c in cols {
        schema.push_str(&format!(" REQUIRED DOUBLE {};", column_name(c)));
    }
    schema.push_str(" }");
    let (out, mut writer) = open_writer(path, &schema)?;
    let mut rg = writer.next_row_group().map_err(perr)?;
    let mut col = 0usize;
    while let Some(mut c) = rg.next_column().map_err(perr)? {
        if col == 0 {
            let names: Vec<ByteArray> = rows.iter().map(|r| ByteArray::from(r.as_str())).collect();
            c.typed::<ByteArrayType>().write_batch(&names, None, None).map_err(perr)?;
        } else {
            let vals: Vec<f64> = v.column(col - 1).to_vec();
            c.typed::<parquet::data_type::DoubleType>().write_batch(&vals, None, None).map_err(perr)?;
        }
        c.close().map_err(perr)?;
        col += 1;
    }
    rg.close().map_err(perr)?;
    writer.close().map_err(perr)?;
    out.commit()
}

/// Reads a track parquet back as rows (for checks and small files).
pub fn read_parquet(path: &Path) -> Result<(Vec<String>, Vec<Row>)> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    let perr = |e: parquet::errors::ParquetError| Error::malformed(path, "parquet", format!("{e}"));
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = SerializedFileReader::new(file).map_err(perr)?;
    let names: Vec<String> =
        reader.metadata().file_metadata().schema_descr().columns().iter().map(|c| c.name().to_string()).collect();
    let mut rows = Vec::new();
    for rec in reader.get_row_iter(None).map_err(perr)? {
        let rec = rec.map_err(perr)?;
        let mut chrom = String::new();
        let (mut start, mut end, mut vals) = (0, 0, Vec::new());
        for (i, (_, f)) in rec.get_column_iter().enumerate() {
            match (i, f) {
                (0, Field::Str(s)) => chrom = s.clone(),
                (1, Field::Long(v)) => start = *v,
                (2, Field::Long(v)) => end = *v,
                (_, Field::Float(v)) => vals.push(*v),
                _ => return Err(Error::malformed(path, "parquet", format!("unexpected column {i}"))),
            }
        }
        rows.push((chrom, start, end, vals));
    }
    Ok((names[3..].to_vec(), rows))
}
