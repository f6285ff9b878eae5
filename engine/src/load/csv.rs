//! Streaming reader for the Gremlin load CSV format of Amazon Neptune and Aerospike Graph.
//!
//! # Format accepted
//! - A load directory holds `vertices/` and `edges/` (either may be absent, not both); files may
//!   sit directly in them or in sub-folders (a folder per label is common). Folder and file
//!   names carry no meaning: the label always comes from the `~label` column. Hidden files
//!   (`.name`) are skipped. See [`discover`].
//! - Every file starts with a header row. System columns (case-sensitive, each at most once):
//!   vertex files `~id` (required) and `~label`; edge files `~from`, `~to` (required), `~id` and
//!   `~label` (optional). Any other `~name` column is a header error.
//! - Property columns: `name`, `name:Type`, `name:Type[]`, `name:Type(single)`,
//!   `name:Type(set)`, `name:Type(list)`, `name:Type(set)[]` (Neptune) and `name:Type:single`,
//!   `name:Type:set`, `name:Type:list` (Aerospike). `\:` in a name is a literal colon. Type
//!   names are case-insensitive: `Bool`/`Boolean`, `Byte`, `Short`, `Int`/`Integer`, `Long`,
//!   `Float`, `Double`, `String`, `Date`, `UUID`; no type means `String`.
//! - Cardinality: `[]` alone means set (Neptune); otherwise the explicit cardinality, default
//!   single. `(single)[]` is a header error. A cell is split into several values on `;` only
//!   for array columns (`[]`) and Aerospike `:set` / `:list` columns; `\;` inside such a cell
//!   is a literal semicolon. A `(set)` column without `[]` holds one value per row (Neptune
//!   appends it to the set). Edge properties are single-valued: any other cardinality in an
//!   edge file is a header error, as in Neptune.
//! - Values: an empty cell means "no value" (the property is left out of the row). Numbers,
//!   booleans, dates and UUIDs are trimmed of ASCII spaces; strings are kept verbatim.
//!   `Bool` is `true`/`false` (any case). `Float`/`Double` accept what Rust's parser accepts
//!   (including `NaN`, `inf`). `Date` is `yyyy-MM-dd`, optionally followed by `THH:mm`,
//!   `:ss`, a fraction (kept to milliseconds) and a zone (`Z`, `±HH`, `±HHMM`, `±HH:MM`; none
//!   means UTC); it becomes [`Value::Date`] (milliseconds since the epoch). `UUID` is the
//!   36-character hyphenated form.
//! - Ids are strings, as in Neptune: `~id`, `~from` and `~to` are taken verbatim as
//!   `Arc<str>` (an empty id is a row error). A numeric-looking id stays a string.
//! - Labels: an empty or absent `~label` gives `vertex` / `edge`. coregraph elements have one
//!   label, so a label cell holding `;` (Neptune's multi-label syntax) is rejected with
//!   [`RowErrorKind::MultipleLabels`] rather than silently taking one of them.
//! - RFC 4180 quoting: a field that starts with `"` is quoted; inside it `""` is a quote and
//!   commas and newlines are data. A quote inside an unquoted field, or anything but a comma
//!   or the end of the row after a closing quote, is a row error. Rows end at `\n` or `\r\n`;
//!   blank rows are skipped; a UTF-8 byte-order mark before the header is ignored. Every row
//!   must have exactly as many fields as the header.
//!
//! # Errors
//! Bad input never panics and never yields half a row: each problem becomes a [`RowError`]
//! with the file, the 1-based line on which the row starts, a [`RowErrorKind`] and a message,
//! and the reader goes on with the next row. A header error ends the file (nothing after it
//! can be interpreted). Every buffer is bounded by [`Limits`].
//!
//! # Splitting one file across cores
//! A row boundary is a `\n` outside quotes, and "outside quotes" is the parity of the number
//! of `"` bytes seen since the start of the data (`""` flips it twice). This cannot be
//! resynchronised from an arbitrary offset, so [`plan_file`] is exact instead of clever: one
//! sequential byte scan from the end of the header counts quotes and newlines and cuts at the
//! first row boundary past each `len / parts` target, recording the line number each range
//! starts on. The scan is a tight loop over the bytes (it reads the file once; the page cache
//! then serves the parallel readers). Each [`ByteRange`] is read independently with
//! [`open_range`], which yields exactly the rows (with the same line numbers) that a
//! sequential read yields for that byte range.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gremlin::value::{Uuid, Value};

/// Default largest field (after unquoting), in bytes.
pub const FIELD_BYTES_MAX: usize = 1 << 20;
/// Default largest number of columns in a header (and so in a row).
pub const COLUMNS_MAX: usize = 1024;
/// Default largest row (header or data, quoted newlines included), in bytes.
pub const LINE_BYTES_MAX: usize = 8 << 20;
/// Default largest number of values in one multi-valued cell.
pub const VALUES_PER_CELL_MAX: usize = 65_536;
/// Deepest sub-folder level [`discover`] descends into below `vertices/` or `edges/`.
pub const DIR_DEPTH_MAX: usize = 8;
/// Most ranges [`plan_file`] cuts one file into.
pub const PARTS_MAX: usize = 4096;
/// Read buffer of [`open_range`] and [`plan_file`], in bytes.
const READ_BUFFER_BYTES: usize = 256 << 10;
/// Distinct labels one reader hands out as shared `Arc`s (one allocation per label, not per
/// row); past it a row's label is allocated for it.
pub const READER_LABELS_MAX: usize = 64;

/// The named limits of the reader. Exceeding one is a row error, never an allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub field_bytes_max: usize,
    pub columns_max: usize,
    pub line_bytes_max: usize,
    pub values_per_cell_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            field_bytes_max: FIELD_BYTES_MAX,
            columns_max: COLUMNS_MAX,
            line_bytes_max: LINE_BYTES_MAX,
            values_per_cell_max: VALUES_PER_CELL_MAX,
        }
    }
}

/// Whether a file holds vertices or edges (decided by its directory, `vertices/` or `edges/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    Vertex,
    Edge,
}

/// A property column's declared type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PropType {
    Bool,
    Byte,
    Short,
    Int,
    Long,
    Float,
    Double,
    String,
    Date,
    Uuid,
}

impl PropType {
    /// Parses a type name, case-insensitively, with Neptune's aliases.
    pub fn parse(name: &str) -> Option<PropType> {
        Some(match name.to_ascii_lowercase().as_str() {
            "bool" | "boolean" => PropType::Bool,
            "byte" => PropType::Byte,
            "short" => PropType::Short,
            "int" | "integer" => PropType::Int,
            "long" => PropType::Long,
            "float" => PropType::Float,
            "double" => PropType::Double,
            "string" => PropType::String,
            "date" => PropType::Date,
            "uuid" => PropType::Uuid,
            _ => return None,
        })
    }
}

/// A property column's cardinality, as Gremlin's `VertexProperty.Cardinality`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cardinality {
    Single,
    List,
    Set,
}

impl Cardinality {
    fn parse(name: &str) -> Option<Cardinality> {
        Some(match name.to_ascii_lowercase().as_str() {
            "single" => Cardinality::Single,
            "list" => Cardinality::List,
            "set" => Cardinality::Set,
            _ => return None,
        })
    }
}

/// One property column of a header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropColumn {
    pub name: Arc<str>,
    pub ty: PropType,
    pub cardinality: Cardinality,
    /// Cells are split on unescaped `;` into several values.
    pub multi: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Id,
    Label,
    From,
    To,
    Prop(usize),
}

/// A parsed header row: what each column means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    kind: FileKind,
    roles: Vec<Role>,
    props: Vec<PropColumn>,
}

impl Header {
    /// Parses the header fields of a file of `kind`. `file` and `line` label the error.
    pub fn parse(
        kind: FileKind,
        fields: &[&str],
        limits: &Limits,
        file: &Arc<str>,
        line: u64,
    ) -> Result<Header, RowError> {
        let err = |kind_: RowErrorKind, message: String| RowError {
            file: file.clone(),
            line,
            kind: kind_,
            message,
        };
        if fields.len() > limits.columns_max {
            return Err(err(
                RowErrorKind::TooManyColumns,
                format!(
                    "header has {} columns, more than {}",
                    fields.len(),
                    limits.columns_max
                ),
            ));
        }
        let mut roles = Vec::with_capacity(fields.len());
        let mut props: Vec<PropColumn> = Vec::new();
        for &field in fields {
            let role = if let Some(system) = field.strip_prefix('~') {
                match (system, kind) {
                    ("id", _) => Role::Id,
                    ("label", _) => Role::Label,
                    ("from", FileKind::Edge) => Role::From,
                    ("to", FileKind::Edge) => Role::To,
                    _ => {
                        return Err(err(
                            RowErrorKind::BadHeader,
                            format!("system column {field:?} is not allowed in a {kind:?} file"),
                        ))
                    }
                }
            } else {
                let col = parse_prop_column(field).map_err(|m| err(RowErrorKind::BadHeader, m))?;
                if kind == FileKind::Edge && (col.multi || col.cardinality != Cardinality::Single) {
                    return Err(err(
                        RowErrorKind::BadHeader,
                        format!(
                            "edge property column {field:?}: edge properties are single-valued"
                        ),
                    ));
                }
                if props.iter().any(|p| p.name == col.name) {
                    return Err(err(
                        RowErrorKind::DuplicateColumn,
                        format!("property {:?} appears twice in the header", col.name),
                    ));
                }
                props.push(col);
                Role::Prop(props.len() - 1)
            };
            if !matches!(role, Role::Prop(_)) && roles.contains(&role) {
                return Err(err(
                    RowErrorKind::DuplicateColumn,
                    format!("system column {field:?} appears twice in the header"),
                ));
            }
            roles.push(role);
        }
        let required: &[(Role, &str)] = match kind {
            FileKind::Vertex => &[(Role::Id, "~id")],
            FileKind::Edge => &[(Role::From, "~from"), (Role::To, "~to")],
        };
        for (role, name) in required {
            if !roles.contains(role) {
                return Err(err(
                    RowErrorKind::MissingColumn,
                    format!("required column {name} is missing from the header"),
                ));
            }
        }
        Ok(Header { kind, roles, props })
    }

    /// The kind of file this header belongs to.
    pub fn kind(&self) -> FileKind {
        self.kind
    }

    /// The property columns, in header order.
    pub fn props(&self) -> &[PropColumn] {
        &self.props
    }

    /// Number of columns.
    pub fn width(&self) -> usize {
        self.roles.len()
    }
}

/// Splits `s` at `sep` bytes not preceded by a backslash, replacing `\sep` by `sep`.
/// Other backslashes are kept as they are.
fn split_escaped(
    s: &str,
    sep: char,
    mut each: impl FnMut(String) -> Result<(), String>,
) -> Result<(), String> {
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&sep) {
            cur.push(sep);
            chars.next();
        } else if c == sep {
            each(std::mem::take(&mut cur))?;
        } else {
            cur.push(c);
        }
    }
    each(cur)
}

fn parse_prop_column(field: &str) -> Result<PropColumn, String> {
    let mut parts: Vec<String> = Vec::new();
    split_escaped(field, ':', |p| {
        if parts.len() >= 3 {
            return Err(format!("column {field:?}: more than name:Type:cardinality"));
        }
        parts.push(p);
        Ok(())
    })?;
    let mut parts = parts.into_iter();
    let name = parts.next().unwrap_or_default();
    if name.is_empty() {
        return Err(format!("column {field:?}: empty property name"));
    }
    if name
        .chars()
        .any(|c| c == ' ' || c == '\r' || c == '\n' || c == ',')
    {
        return Err(format!(
            "column {field:?}: spaces and line breaks are not allowed in names"
        ));
    }
    let (ty, array, paren_card) = match parts.next() {
        None => (PropType::String, false, None),
        Some(spec) => {
            let (spec, array) = match spec.strip_suffix("[]") {
                Some(s) => (s, true),
                None => (spec.as_str(), false),
            };
            let (ty_name, card) = match spec.strip_suffix(')') {
                Some(s) => {
                    let open = s
                        .find('(')
                        .ok_or_else(|| format!("column {field:?}: ')' without '('"))?;
                    let card_name = s.get(open + 1..).unwrap_or_default();
                    let card = Cardinality::parse(card_name).ok_or_else(|| {
                        format!("column {field:?}: unknown cardinality {card_name:?}")
                    })?;
                    (s.get(..open).unwrap_or_default(), Some(card))
                }
                None => (spec, None),
            };
            let ty = PropType::parse(ty_name)
                .ok_or_else(|| format!("column {field:?}: unknown type {ty_name:?}"))?;
            (ty, array, card)
        }
    };
    let colon_card = match parts.next() {
        None => None,
        Some(c) => Some(
            Cardinality::parse(&c)
                .ok_or_else(|| format!("column {field:?}: unknown cardinality {c:?}"))?,
        ),
    };
    if paren_card.is_some() && colon_card.is_some() {
        return Err(format!("column {field:?}: cardinality given twice"));
    }
    let cardinality = match (paren_card.or(colon_card), array) {
        (Some(Cardinality::Single), true) => {
            return Err(format!(
                "column {field:?}: an array column cannot be single"
            ))
        }
        (Some(c), _) => c,
        (None, true) => Cardinality::Set,
        (None, false) => Cardinality::Single,
    };
    let multi = array || colon_card.is_some_and(|c| c != Cardinality::Single);
    Ok(PropColumn {
        name: Arc::from(name),
        ty,
        cardinality,
        multi,
    })
}

/// The values of one property column in one row (never empty).
#[derive(Clone, Debug, PartialEq)]
pub struct PropValues {
    pub name: Arc<str>,
    pub cardinality: Cardinality,
    pub values: Vec<Value>,
}

/// A vertex row.
#[derive(Clone, Debug, PartialEq)]
pub struct VertexRow {
    pub file: Arc<str>,
    /// 1-based line on which the row starts.
    pub line: u64,
    pub id: Arc<str>,
    pub label: Arc<str>,
    pub properties: Vec<PropValues>,
}

/// An edge row.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeRow {
    pub file: Arc<str>,
    /// 1-based line on which the row starts.
    pub line: u64,
    /// `None` when the file has no `~id` column or the cell is empty.
    pub id: Option<Arc<str>>,
    pub label: Arc<str>,
    pub from: Arc<str>,
    pub to: Arc<str>,
    pub properties: Vec<PropValues>,
}

/// A typed data row.
#[derive(Clone, Debug, PartialEq)]
pub enum Row {
    Vertex(VertexRow),
    Edge(EdgeRow),
}

impl Row {
    /// The file the row came from.
    pub fn file(&self) -> &Arc<str> {
        match self {
            Row::Vertex(v) => &v.file,
            Row::Edge(e) => &e.file,
        }
    }

    /// The 1-based line on which the row starts.
    pub fn line(&self) -> u64 {
        match self {
            Row::Vertex(v) => v.line,
            Row::Edge(e) => e.line,
        }
    }
}

/// What went wrong with a row (or header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RowErrorKind {
    /// Reading the file failed; the reader stops.
    Io,
    /// The file has no header row.
    EmptyFile,
    /// A header column is malformed, unknown or not allowed in this kind of file.
    BadHeader,
    DuplicateColumn,
    MissingColumn,
    TooManyColumns,
    LineTooLong,
    FieldTooLong,
    /// The file ends inside a quoted field.
    UnterminatedQuote,
    /// A quote inside an unquoted field or text after a closing quote.
    BadQuote,
    /// The row is not UTF-8.
    Encoding,
    /// The row has a different number of fields than the header.
    ColumnCount,
    /// `~id`, `~from` or `~to` is empty.
    MissingId,
    /// The label cell holds several `;`-separated labels.
    MultipleLabels,
    /// A cell does not parse as its column's type.
    BadValue,
    TooManyValues,
}

impl RowErrorKind {
    /// Header errors (and I/O errors) end the file; the others skip one row.
    pub fn ends_file(self) -> bool {
        matches!(
            self,
            RowErrorKind::Io
                | RowErrorKind::EmptyFile
                | RowErrorKind::BadHeader
                | RowErrorKind::DuplicateColumn
                | RowErrorKind::MissingColumn
        )
    }
}

/// A rejected row: where, what kind, and a message for the error file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    pub file: Arc<str>,
    pub line: u64,
    pub kind: RowErrorKind,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {:?}: {}",
            self.file, self.line, self.kind, self.message
        )
    }
}

impl std::error::Error for RowError {}

/// One physical record as cut by quote parity.
enum Record {
    /// A complete record is in the buffer (line terminator stripped).
    Ok {
        line: u64,
    },
    TooLong {
        line: u64,
    },
    Unterminated {
        line: u64,
    },
}

/// Cuts a byte stream into records: a record ends at `\n` with an even number of `"` before
/// it in the record. Memory is bounded by `line_bytes_max`.
struct RecordReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Line number of the next byte.
    line: u64,
    /// Bytes consumed from `inner`.
    offset: u64,
    line_bytes_max: usize,
}

impl<R: BufRead> RecordReader<R> {
    fn next_record(&mut self) -> io::Result<Option<Record>> {
        loop {
            self.buf.clear();
            let start_line = self.line;
            let mut in_quotes = false;
            let mut overflow = false;
            let mut seen_any = false;
            let ended = loop {
                let avail = self.inner.fill_buf()?;
                if avail.is_empty() {
                    break false;
                }
                seen_any = true;
                let mut end = None;
                for (i, &b) in avail.iter().enumerate() {
                    if b == b'"' {
                        in_quotes = !in_quotes;
                    } else if b == b'\n' {
                        self.line += 1;
                        if !in_quotes {
                            end = Some(i);
                            break;
                        }
                    }
                }
                let take = end.map_or(avail.len(), |i| i + 1);
                if !overflow {
                    if self.buf.len() + take > self.line_bytes_max {
                        overflow = true;
                        self.buf = Vec::new();
                    } else {
                        self.buf
                            .extend_from_slice(avail.get(..take).unwrap_or_default());
                    }
                }
                self.inner.consume(take);
                self.offset += take as u64;
                if end.is_some() {
                    break true;
                }
            };
            if !seen_any {
                return Ok(None);
            }
            if overflow {
                return Ok(Some(Record::TooLong { line: start_line }));
            }
            if !ended && in_quotes {
                return Ok(Some(Record::Unterminated { line: start_line }));
            }
            if self.buf.last() == Some(&b'\n') {
                self.buf.pop();
                if self.buf.last() == Some(&b'\r') {
                    self.buf.pop();
                }
            }
            if self.buf.is_empty() {
                continue; // blank line
            }
            return Ok(Some(Record::Ok { line: start_line }));
        }
    }
}

/// Splits a record into unquoted fields, written one after another into `scratch` with their
/// `bounds`. Errors carry no position; the caller adds it.
fn split_fields(
    rec: &[u8],
    limits: &Limits,
    scratch: &mut Vec<u8>,
    bounds: &mut Vec<(usize, usize)>,
) -> Result<(), (RowErrorKind, String)> {
    scratch.clear();
    bounds.clear();
    let mut i = 0;
    loop {
        if bounds.len() >= limits.columns_max {
            return Err((
                RowErrorKind::TooManyColumns,
                format!("more than {} fields", limits.columns_max),
            ));
        }
        let start = scratch.len();
        if rec.get(i) == Some(&b'"') {
            i += 1;
            loop {
                let rest = rec.get(i..).unwrap_or_default();
                let Some(q) = rest.iter().position(|&b| b == b'"') else {
                    return Err((
                        RowErrorKind::UnterminatedQuote,
                        "unterminated quoted field".into(),
                    ));
                };
                scratch.extend_from_slice(rest.get(..q).unwrap_or_default());
                i += q + 1;
                if rec.get(i) == Some(&b'"') {
                    scratch.push(b'"');
                    i += 1;
                } else {
                    break;
                }
            }
            match rec.get(i) {
                None | Some(b',') => {}
                Some(_) => {
                    return Err((
                        RowErrorKind::BadQuote,
                        format!("text after the closing quote of field {}", bounds.len() + 1),
                    ))
                }
            }
        } else {
            let rest = rec.get(i..).unwrap_or_default();
            let len = rest.iter().position(|&b| b == b',').unwrap_or(rest.len());
            let field = rest.get(..len).unwrap_or_default();
            if field.contains(&b'"') {
                return Err((
                    RowErrorKind::BadQuote,
                    format!("quote inside unquoted field {}", bounds.len() + 1),
                ));
            }
            scratch.extend_from_slice(field);
            i += len;
        }
        if scratch.len() - start > limits.field_bytes_max {
            return Err((
                RowErrorKind::FieldTooLong,
                format!(
                    "field {} is longer than {} bytes",
                    bounds.len() + 1,
                    limits.field_bytes_max
                ),
            ));
        }
        bounds.push((start, scratch.len()));
        match rec.get(i) {
            None => return Ok(()),
            // A comma: another field follows (possibly empty, at the end of the row).
            Some(_) => i += 1,
        }
    }
}

/// Streaming reader of one CSV file (or one [`ByteRange`] of it): an iterator of rows.
pub struct CsvReader<R> {
    file: Arc<str>,
    header: Arc<Header>,
    records: RecordReader<R>,
    limits: Limits,
    scratch: Vec<u8>,
    bounds: Vec<(usize, usize)>,
    done: bool,
    default_label: Arc<str>,
    /// Labels seen by this reader (at most [`READER_LABELS_MAX`]).
    labels: Vec<Arc<str>>,
}

impl<R: BufRead> CsvReader<R> {
    /// Reads the header row of a whole file. `file` names the file in rows and errors.
    pub fn open(
        file: Arc<str>,
        kind: FileKind,
        reader: R,
        limits: Limits,
    ) -> Result<Self, RowError> {
        let mut records = RecordReader {
            inner: reader,
            buf: Vec::new(),
            line: 1,
            offset: 0,
            line_bytes_max: limits.line_bytes_max,
        };
        let err = |line, kind, message: String| RowError {
            file: file.clone(),
            line,
            kind,
            message,
        };
        let header = match records.next_record() {
            Err(e) => return Err(io_error(&file, records.line, &e)),
            Ok(None) => return Err(err(1, RowErrorKind::EmptyFile, "no header row".into())),
            Ok(Some(Record::TooLong { line })) => {
                return Err(err(
                    line,
                    RowErrorKind::LineTooLong,
                    "header row too long".into(),
                ))
            }
            Ok(Some(Record::Unterminated { line })) => {
                return Err(err(
                    line,
                    RowErrorKind::UnterminatedQuote,
                    "unterminated quote in header".into(),
                ))
            }
            Ok(Some(Record::Ok { line })) => {
                // A UTF-8 byte-order mark before the header is not part of it.
                if records.buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
                    records.buf.drain(..3);
                }
                let mut scratch = Vec::new();
                let mut bounds = Vec::new();
                split_fields(&records.buf, &limits, &mut scratch, &mut bounds)
                    .map_err(|(k, m)| err(line, k, m))?;
                let text = std::str::from_utf8(&scratch)
                    .map_err(|_| err(line, RowErrorKind::Encoding, "header is not UTF-8".into()))?;
                let fields: Vec<&str> = bounds
                    .iter()
                    .map(|&(a, b)| text.get(a..b).unwrap_or_default())
                    .collect();
                Header::parse(kind, &fields, &limits, &file, line)?
            }
        };
        let default_label = default_label(kind);
        Ok(CsvReader {
            file,
            header: Arc::new(header),
            records,
            limits,
            scratch: Vec::new(),
            bounds: Vec::new(),
            done: false,
            default_label,
            labels: Vec::new(),
        })
    }

    /// A reader of data rows only (no header row in `reader`), e.g. a [`ByteRange`];
    /// `first_line` is the line number of its first byte.
    pub fn with_header(
        file: Arc<str>,
        header: Arc<Header>,
        reader: R,
        first_line: u64,
        limits: Limits,
    ) -> Self {
        let default_label = default_label(header.kind);
        CsvReader {
            file,
            header,
            records: RecordReader {
                inner: reader,
                buf: Vec::new(),
                line: first_line,
                offset: 0,
                line_bytes_max: limits.line_bytes_max,
            },
            limits,
            scratch: Vec::new(),
            bounds: Vec::new(),
            done: false,
            default_label,
            labels: Vec::new(),
        }
    }

    /// The parsed header.
    pub fn header(&self) -> &Arc<Header> {
        &self.header
    }

    /// Bytes consumed so far (for a whole file: including the header) and the next line number.
    pub fn position(&self) -> (u64, u64) {
        (self.records.offset, self.records.line)
    }

    fn err(&self, line: u64, kind: RowErrorKind, message: String) -> RowError {
        RowError {
            file: self.file.clone(),
            line,
            kind,
            message,
        }
    }

    fn build_row(&mut self, line: u64) -> Result<Row, RowError> {
        split_fields(
            &self.records.buf,
            &self.limits,
            &mut self.scratch,
            &mut self.bounds,
        )
        .map_err(|(k, m)| self.err(line, k, m))?;
        let text = std::str::from_utf8(&self.scratch)
            .map_err(|_| self.err(line, RowErrorKind::Encoding, "row is not UTF-8".into()))?;
        if self.bounds.len() != self.header.roles.len() {
            return Err(self.err(
                line,
                RowErrorKind::ColumnCount,
                format!(
                    "row has {} fields, header has {}",
                    self.bounds.len(),
                    self.header.roles.len()
                ),
            ));
        }
        let mut id = None;
        let mut label = None;
        let mut from = None;
        let mut to = None;
        let mut properties = Vec::new();
        for (&role, &(a, b)) in self.header.roles.iter().zip(self.bounds.iter()) {
            let cell = text.get(a..b).unwrap_or_default();
            match role {
                Role::Id => id = Some(cell),
                Role::Label => label = Some(cell),
                Role::From => from = Some(cell),
                Role::To => to = Some(cell),
                Role::Prop(p) => {
                    let Some(col) = self.header.props.get(p) else {
                        continue;
                    };
                    if cell.is_empty() {
                        continue;
                    }
                    let values = parse_cell(col, cell, &self.limits)
                        .map_err(|(k, m)| self.err(line, k, m))?;
                    if !values.is_empty() {
                        properties.push(PropValues {
                            name: col.name.clone(),
                            cardinality: col.cardinality,
                            values,
                        });
                    }
                }
            }
        }
        let label: Arc<str> = match label {
            None | Some("") => self.default_label.clone(),
            Some(l) if l.contains(';') => {
                return Err(self.err(
                    line,
                    RowErrorKind::MultipleLabels,
                    format!("label {l:?} holds several labels; coregraph elements have one label"),
                ))
            }
            Some(l) => match self.labels.iter().find(|x| &***x == l) {
                Some(x) => x.clone(),
                None => {
                    let x: Arc<str> = Arc::from(l);
                    if self.labels.len() < READER_LABELS_MAX {
                        self.labels.push(x.clone());
                    }
                    x
                }
            },
        };
        let required = |v: Option<&str>, name: &str| -> Result<Arc<str>, RowError> {
            match v {
                Some(s) if !s.is_empty() => Ok(Arc::from(s)),
                _ => Err(self.err(line, RowErrorKind::MissingId, format!("{name} is empty"))),
            }
        };
        Ok(match self.header.kind {
            FileKind::Vertex => Row::Vertex(VertexRow {
                file: self.file.clone(),
                line,
                id: required(id, "~id")?,
                label,
                properties,
            }),
            FileKind::Edge => Row::Edge(EdgeRow {
                file: self.file.clone(),
                line,
                id: id.filter(|s| !s.is_empty()).map(Arc::from),
                label,
                from: required(from, "~from")?,
                to: required(to, "~to")?,
                properties,
            }),
        })
    }
}

impl<R: BufRead> Iterator for CsvReader<R> {
    type Item = Result<Row, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.records.next_record() {
            Err(e) => {
                self.done = true;
                Some(Err(io_error(&self.file, self.records.line, &e)))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Ok(Some(Record::TooLong { line })) => Some(Err(self.err(
                line,
                RowErrorKind::LineTooLong,
                format!("row longer than {} bytes", self.limits.line_bytes_max),
            ))),
            Ok(Some(Record::Unterminated { line })) => Some(Err(self.err(
                line,
                RowErrorKind::UnterminatedQuote,
                "file ends inside a quoted field".into(),
            ))),
            Ok(Some(Record::Ok { line })) => Some(self.build_row(line)),
        }
    }
}

fn default_label(kind: FileKind) -> Arc<str> {
    Arc::from(match kind {
        FileKind::Vertex => "vertex",
        FileKind::Edge => "edge",
    })
}

fn io_error(file: &Arc<str>, line: u64, e: &io::Error) -> RowError {
    RowError {
        file: file.clone(),
        line,
        kind: RowErrorKind::Io,
        message: e.to_string(),
    }
}

/// Parses one non-empty cell of `col` into its values (empty parts of a multi-valued cell
/// are skipped).
fn parse_cell(
    col: &PropColumn,
    cell: &str,
    limits: &Limits,
) -> Result<Vec<Value>, (RowErrorKind, String)> {
    if !col.multi {
        return Ok(vec![parse_value(col, cell)?]);
    }
    let mut values = Vec::new();
    split_escaped(cell, ';', |part| {
        if part.is_empty() {
            return Ok(());
        }
        if values.len() >= limits.values_per_cell_max {
            return Err(String::new());
        }
        values.push(part);
        Ok(())
    })
    .map_err(|_| {
        (
            RowErrorKind::TooManyValues,
            format!(
                "column {}: more than {} values in one cell",
                col.name, limits.values_per_cell_max
            ),
        )
    })?;
    values.iter().map(|v| parse_value(col, v)).collect()
}

fn parse_value(col: &PropColumn, s: &str) -> Result<Value, (RowErrorKind, String)> {
    let bad = || {
        let shown: String = s.chars().take(64).collect();
        (
            RowErrorKind::BadValue,
            format!("column {}: {shown:?} is not a valid {:?}", col.name, col.ty),
        )
    };
    if col.ty == PropType::String {
        return Ok(Value::str(s));
    }
    let t = s.trim_matches(' ');
    Ok(match col.ty {
        PropType::Bool => {
            if t.eq_ignore_ascii_case("true") {
                Value::Bool(true)
            } else if t.eq_ignore_ascii_case("false") {
                Value::Bool(false)
            } else {
                return Err(bad());
            }
        }
        PropType::Byte => Value::Byte(t.parse().map_err(|_| bad())?),
        PropType::Short => Value::Short(t.parse().map_err(|_| bad())?),
        PropType::Int => Value::Int(t.parse().map_err(|_| bad())?),
        PropType::Long => Value::Long(t.parse().map_err(|_| bad())?),
        PropType::Float => Value::Float(t.parse().map_err(|_| bad())?),
        PropType::Double => Value::Double(t.parse().map_err(|_| bad())?),
        PropType::Date => Value::Date(parse_date(t).ok_or_else(bad)?),
        PropType::Uuid => Value::Uuid(parse_uuid(t).ok_or_else(bad)?),
        PropType::String => Value::str(s),
    })
}

fn digits(b: &[u8], from: usize, n: usize) -> Option<i64> {
    let d = b.get(from..from + n)?;
    let mut v = 0i64;
    for &c in d {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Parses a Neptune `Date` cell into milliseconds since the Unix epoch.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let y = digits(b, 0, 4)?;
    let m = digits(b, 5, 2)?;
    let d = digits(b, 8, 2)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !(1..=12).contains(&m) {
        return None;
    }
    if d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let mut ms = days_from_civil(y, m as u32, d as u32) * 86_400_000;
    let mut i = 10;
    if b.len() == i {
        return Some(ms);
    }
    if b.get(i) != Some(&b'T') {
        return None;
    }
    let hh = digits(b, i + 1, 2)?;
    let mm = digits(b, i + 4, 2)?;
    if b.get(i + 3) != Some(&b':') || hh > 23 || mm > 59 {
        return None;
    }
    ms += (hh * 3600 + mm * 60) * 1000;
    i += 6;
    if b.get(i) == Some(&b':') {
        let ss = digits(b, i + 1, 2)?;
        if ss > 59 {
            return None;
        }
        ms += ss * 1000;
        i += 3;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let frac_start = i;
            let mut frac_ms = 0;
            while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
                if i - frac_start < 3 {
                    frac_ms = frac_ms * 10 + i64::from(c - b'0');
                }
                i += 1;
            }
            let n = i - frac_start;
            if n == 0 || n > 9 {
                return None;
            }
            for _ in n..3 {
                frac_ms *= 10;
            }
            ms += frac_ms;
        }
    }
    match b.get(i) {
        None => Some(ms),
        Some(b'Z') if b.len() == i + 1 => Some(ms),
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(b, i + 1, 2)?;
            let om = match b.len() - i {
                3 => 0,
                5 => digits(b, i + 3, 2)?,
                6 if b.get(i + 3) == Some(&b':') => digits(b, i + 4, 2)?,
                _ => return None,
            };
            if oh > 18 || om > 59 {
                return None;
            }
            let off = (oh * 60 + om) * 60_000;
            Some(if sign == b'+' { ms - off } else { ms + off })
        }
        _ => None,
    }
}

/// Parses a hyphenated 36-character UUID.
pub fn parse_uuid(s: &str) -> Option<Uuid> {
    let b = s.as_bytes();
    if b.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    let mut n = 0;
    let mut hi: Option<u8> = None;
    for (i, &c) in b.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if c != b'-' {
                return None;
            }
            continue;
        }
        let v = (c as char).to_digit(16)? as u8;
        match hi.take() {
            None => hi = Some(v),
            Some(h) => {
                *out.get_mut(n)? = (h << 4) | v;
                n += 1;
            }
        }
    }
    Some(Uuid(out))
}

/// A file found under a load directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    pub path: PathBuf,
    pub kind: FileKind,
}

/// Lists the CSV files of a load directory: everything under `dir/vertices/` then
/// `dir/edges/` (recursively, at most [`DIR_DEPTH_MAX`] levels, hidden names skipped), each
/// group sorted by path so the order is stable.
pub fn discover(dir: &Path) -> io::Result<Vec<SourceFile>> {
    let mut out = Vec::new();
    let mut found_dir = false;
    for (sub, kind) in [("vertices", FileKind::Vertex), ("edges", FileKind::Edge)] {
        let d = dir.join(sub);
        if !d.is_dir() {
            continue;
        }
        found_dir = true;
        let mut files = Vec::new();
        walk(&d, 0, &mut files)?;
        files.sort();
        tracing::debug!(dir = %d.display(), files = files.len(), "load: discovered files");
        out.extend(files.into_iter().map(|path| SourceFile { path, kind }));
    }
    if !found_dir {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} has neither vertices/ nor edges/", dir.display()),
        ));
    }
    Ok(out)
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> io::Result<()> {
    if depth > DIR_DEPTH_MAX {
        return Err(io::Error::other(format!(
            "{}: deeper than {DIR_DEPTH_MAX} folder levels",
            dir.display()
        )));
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let ty = entry.file_type()?;
        if ty.is_dir() {
            walk(&path, depth + 1, out)?;
        } else if ty.is_file() || (ty.is_symlink() && path.is_file()) {
            out.push(path);
        }
    }
    Ok(())
}

/// A part of a file's data (after the header) that starts and ends on row boundaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
    /// Line number of the byte at `start`.
    pub first_line: u64,
}

/// A file's header and its data cut into ranges for parallel reading.
#[derive(Clone, Debug)]
pub struct FilePlan {
    pub file: Arc<str>,
    pub path: PathBuf,
    pub header: Arc<Header>,
    pub ranges: Vec<ByteRange>,
}

/// Reads `path`'s header and cuts its data into at most `parts` ranges of similar size on
/// row boundaries (one exact quote-parity scan; see the module docs). An empty data part
/// gives no ranges.
pub fn plan_file(
    path: &Path,
    kind: FileKind,
    parts: usize,
    limits: Limits,
) -> Result<FilePlan, RowError> {
    let file: Arc<str> = Arc::from(path.display().to_string());
    let f = File::open(path).map_err(|e| io_error(&file, 0, &e))?;
    let len = f.metadata().map_err(|e| io_error(&file, 0, &e))?.len();
    let reader = CsvReader::open(
        file.clone(),
        kind,
        BufReader::with_capacity(READ_BUFFER_BYTES, f),
        limits,
    )?;
    let (data_start, data_line) = reader.position();
    let header = reader.header().clone();
    drop(reader);
    let mut f = File::open(path).map_err(|e| io_error(&file, 0, &e))?;
    f.seek(SeekFrom::Start(data_start))
        .map_err(|e| io_error(&file, data_line, &e))?;
    let ranges = split_ranges(
        f,
        data_start,
        data_line,
        len.saturating_sub(data_start),
        parts,
    )
    .map_err(|e| io_error(&file, data_line, &e))?;
    tracing::debug!(file = %file, ranges = ranges.len(), "load: planned file");
    Ok(FilePlan {
        file,
        path: path.to_path_buf(),
        header,
        ranges,
    })
}

/// Cuts `data_len` bytes read from `reader` (which is positioned at byte `start`, line
/// `first_line`) into at most `parts` ranges ending on row boundaries.
pub fn split_ranges<R: Read>(
    reader: R,
    start: u64,
    first_line: u64,
    data_len: u64,
    parts: usize,
) -> io::Result<Vec<ByteRange>> {
    let parts = parts.clamp(1, PARTS_MAX) as u64;
    let mut ranges = Vec::new();
    if data_len == 0 {
        return Ok(ranges);
    }
    let target = data_len.div_ceil(parts).max(1);
    let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, reader.take(data_len));
    let mut pos = start;
    let mut line = first_line;
    let mut in_quotes = false;
    let mut cur = ByteRange {
        start,
        end: start,
        first_line,
    };
    loop {
        let avail = reader.fill_buf()?;
        if avail.is_empty() {
            break;
        }
        let n = avail.len();
        for (i, &b) in avail.iter().enumerate() {
            if b == b'"' {
                in_quotes = !in_quotes;
            } else if b == b'\n' {
                line += 1;
                let after = pos + i as u64 + 1;
                if !in_quotes && after - cur.start >= target && (ranges.len() as u64) < parts - 1 {
                    cur.end = after;
                    ranges.push(cur);
                    cur = ByteRange {
                        start: after,
                        end: after,
                        first_line: line,
                    };
                }
            }
        }
        reader.consume(n);
        pos += n as u64;
    }
    cur.end = pos;
    if cur.end > cur.start {
        ranges.push(cur);
    }
    Ok(ranges)
}

/// Opens one range of a planned file for reading.
pub fn open_range(
    plan: &FilePlan,
    range: ByteRange,
    limits: Limits,
) -> io::Result<CsvReader<BufReader<io::Take<File>>>> {
    let mut f = File::open(&plan.path)?;
    f.seek(SeekFrom::Start(range.start))?;
    let reader = BufReader::with_capacity(
        READ_BUFFER_BYTES,
        f.take(range.end.saturating_sub(range.start)),
    );
    Ok(CsvReader::with_header(
        plan.file.clone(),
        plan.header.clone(),
        reader,
        range.first_line,
        limits,
    ))
}

/// The fuzz oracle (shared by `engine/fuzz` and the unit tests): reading any bytes as a vertex
/// file and as an edge file never panics, every row error names a line within the input,
/// and splitting the input into ranges yields the same rows as reading it whole.
#[doc(hidden)]
pub fn fuzz_one(data: &[u8]) {
    let limits = Limits {
        field_bytes_max: 256,
        columns_max: 16,
        line_bytes_max: 1024,
        values_per_cell_max: 8,
    };
    let lines = data.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    for kind in [FileKind::Vertex, FileKind::Edge] {
        let file: Arc<str> = Arc::from("fuzz.csv");
        let whole = match CsvReader::open(file.clone(), kind, data, limits) {
            Ok(r) => r,
            Err(e) => {
                assert!(e.line <= lines, "header error line {} beyond input", e.line);
                continue;
            }
        };
        let (start, line) = whole.position();
        let tiny: Vec<_> = match CsvReader::open(
            file.clone(),
            kind,
            io::BufReader::with_capacity(3, data),
            limits,
        ) {
            Ok(r) => r.collect(),
            Err(e) => panic!("a 3-byte buffer fails the header that a whole read accepted: {e}"),
        };
        let header = whole.header().clone();
        let rows: Vec<_> = whole.collect();
        for r in &rows {
            let l = match r {
                Ok(row) => row.line(),
                Err(e) => e.line,
            };
            assert!(l >= 1 && l <= lines, "line {l} outside 1..={lines}");
        }
        let data_part = data.get(start as usize..).unwrap_or_default();
        let ranges = match split_ranges(data_part, start, line, data_part.len() as u64, 3) {
            Ok(r) => r,
            Err(e) => panic!("split of in-memory data failed: {e}"),
        };
        let mut split_rows = Vec::new();
        for r in ranges {
            let part = data
                .get(r.start as usize..r.end as usize)
                .unwrap_or_default();
            split_rows.extend(CsvReader::with_header(
                file.clone(),
                header.clone(),
                part,
                r.first_line,
                limits,
            ));
        }
        assert_eq!(rows, split_rows, "split read differs from whole read");
        assert_eq!(
            rows, tiny,
            "read through a 3-byte buffer differs from whole read"
        );
    }
}

#[cfg(test)]
mod tests;
