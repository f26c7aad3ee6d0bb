//! A small schema reader over `toml_edit` documents that keeps source spans.
//!
//! Serde stops at the first error and forgets where values were; designers need every error with
//! its line. Each getter here records a specific [`AssetError`] and returns `None`, so a loader
//! reads the whole file and reports everything wrong with it in one pass.

use std::ops::{Range, RangeInclusive};

use toml_edit::{Document, Item, TableLike};

use super::error::AssetError;

/// One asset file being read: its name, text and the errors found so far.
pub(crate) struct FileReader<'t> {
    file: String,
    text: &'t str,
    line_starts: Vec<usize>,
    pub(crate) errors: Vec<AssetError>,
}

/// A table inside a file, with the dotted path used in messages.
#[derive(Clone, Copy)]
pub(crate) struct Table<'d> {
    pub(crate) inner: &'d dyn TableLike,
    span: Option<(usize, usize)>,
    path: &'d str,
}

impl<'d> Table<'d> {
    /// The dotted path of this table, used in messages.
    pub(crate) fn path(&self) -> &'d str {
        self.path
    }
}

impl<'t> FileReader<'t> {
    /// Prepares to read `text` (contents of `file`).
    pub(crate) fn new(file: &str, text: &'t str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        FileReader {
            file: file.to_owned(),
            text,
            line_starts,
            errors: Vec::new(),
        }
    }

    /// Parses the file; a syntax error is recorded and `None` returned.
    pub(crate) fn parse(&mut self) -> Option<Document<&'t str>> {
        match Document::parse(self.text) {
            Ok(doc) => Some(doc),
            Err(e) => {
                let line = e.span().map_or(1, |s| self.line_of(s.start));
                let message = e.message().trim().replace('\n', "; ");
                self.push(line, "(syntax)", message);
                None
            }
        }
    }

    /// 1-based line number of a byte offset.
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }

    fn line_of_span(&self, span: Option<Range<usize>>) -> usize {
        span.map_or(1, |s| self.line_of(s.start))
    }

    /// Records an error at `line`.
    pub(crate) fn push(&mut self, line: usize, field: &str, message: impl Into<String>) {
        self.errors.push(AssetError {
            file: self.file.clone(),
            line,
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// Wraps the document's root table.
    pub(crate) fn root<'d>(&self, doc: &'d Document<&'t str>) -> Table<'d> {
        Table {
            inner: doc.as_table(),
            span: None,
            path: "",
        }
    }

    /// Line of a key inside a table (the table's own line when the key is absent).
    pub(crate) fn line_of_key(&self, table: Table<'_>, key: &str) -> usize {
        match table.inner.get_key_value(key) {
            Some((k, item)) => self.line_of_span(k.span().or_else(|| item.span())),
            None => self.line_of_table(table),
        }
    }

    fn line_of_table(&self, table: Table<'_>) -> usize {
        table.span.map_or(1, |(s, _)| self.line_of(s))
    }

    /// Reports every key of `table` not in `allowed`, suggesting the closest allowed key.
    pub(crate) fn deny_unknown(&mut self, table: Table<'_>, allowed: &[&str]) {
        let unknown: Vec<(String, usize)> = table
            .inner
            .iter()
            .filter(|(k, _)| !allowed.contains(k))
            .map(|(k, _)| (k.to_owned(), self.line_of_key(table, k)))
            .collect();
        for (key, line) in unknown {
            let hint = match closest(&key, allowed) {
                Some(best) => format!("; did you mean `{best}`?"),
                None => String::new(),
            };
            let field = join(table.path, &key);
            self.push(
                line,
                &field,
                format!(
                    "unknown field (expected one of: {}){hint}",
                    allowed.join(", ")
                ),
            );
        }
    }

    fn get<'d>(&mut self, table: Table<'d>, key: &str, required: bool) -> Option<&'d Item> {
        match table.inner.get(key) {
            Some(item) if !item.is_none() => Some(item),
            _ => {
                if required {
                    let line = self.line_of_table(table);
                    self.push(line, &join(table.path, key), "missing field");
                }
                None
            }
        }
    }

    fn wrong_type(&mut self, table: Table<'_>, key: &str, expected: &str, item: &Item) {
        let line = self.line_of_key(table, key);
        let found = describe(item);
        self.push(
            line,
            &join(table.path, key),
            format!("expected {expected}, found {found}"),
        );
    }

    /// A required integer within `range`.
    pub(crate) fn int(
        &mut self,
        table: Table<'_>,
        key: &str,
        range: RangeInclusive<i64>,
    ) -> Option<i64> {
        let item = self.get(table, key, true)?;
        self.int_item(table, key, item, range)
    }

    /// An optional integer within `range`, `default` when absent.
    pub(crate) fn int_or(
        &mut self,
        table: Table<'_>,
        key: &str,
        range: RangeInclusive<i64>,
        default: i64,
    ) -> Option<i64> {
        match self.get(table, key, false) {
            Some(item) => self.int_item(table, key, item, range),
            None => Some(default),
        }
    }

    fn int_item(
        &mut self,
        table: Table<'_>,
        key: &str,
        item: &Item,
        range: RangeInclusive<i64>,
    ) -> Option<i64> {
        let Some(v) = item.as_integer() else {
            self.wrong_type(table, key, "an integer", item);
            return None;
        };
        self.check_range(table, key, v, range)
    }

    /// Checks `v` against `range`, naming the bound that failed.
    pub(crate) fn check_range(
        &mut self,
        table: Table<'_>,
        key: &str,
        v: i64,
        range: RangeInclusive<i64>,
    ) -> Option<i64> {
        if range.contains(&v) {
            return Some(v);
        }
        let line = self.line_of_key(table, key);
        let message = if *range.end() == i64::MAX {
            format!("must be at least {}, found {v}", range.start())
        } else {
            format!(
                "must be between {} and {}, found {v}",
                range.start(),
                range.end()
            )
        };
        self.push(line, &join(table.path, key), message);
        None
    }

    /// A required number (integer or float) within `range`.
    pub(crate) fn float(
        &mut self,
        table: Table<'_>,
        key: &str,
        range: RangeInclusive<f64>,
    ) -> Option<f64> {
        let item = self.get(table, key, true)?;
        self.float_item(table, key, item, range)
    }

    fn float_item(
        &mut self,
        table: Table<'_>,
        key: &str,
        item: &Item,
        range: RangeInclusive<f64>,
    ) -> Option<f64> {
        let v = match (item.as_float(), item.as_integer()) {
            (Some(f), _) => f,
            (None, Some(i)) => i as f64,
            _ => {
                self.wrong_type(table, key, "a number", item);
                return None;
            }
        };
        if v.is_finite() && range.contains(&v) {
            return Some(v);
        }
        let line = self.line_of_key(table, key);
        self.push(
            line,
            &join(table.path, key),
            format!(
                "must be between {} and {}, found {v}",
                range.start(),
                range.end()
            ),
        );
        None
    }

    /// A required string.
    pub(crate) fn string(&mut self, table: Table<'_>, key: &str) -> Option<String> {
        let item = self.get(table, key, true)?;
        match item.as_str() {
            Some(s) if !s.trim().is_empty() => Some(s.to_owned()),
            Some(_) => {
                let line = self.line_of_key(table, key);
                self.push(line, &join(table.path, key), "must not be empty");
                None
            }
            None => {
                self.wrong_type(table, key, "a string", item);
                None
            }
        }
    }

    /// A required sub-table (`[name]` or inline `{ … }`); `path` is owned by the caller.
    pub(crate) fn table<'d>(
        &mut self,
        table: Table<'d>,
        key: &str,
        path: &'d str,
    ) -> Option<Table<'d>> {
        let item = self.get(table, key, true)?;
        self.table_item(table, key, item, path)
    }

    /// An optional sub-table; `None` when absent (no error) or of the wrong type (error).
    pub(crate) fn table_opt<'d>(
        &mut self,
        table: Table<'d>,
        key: &str,
        path: &'d str,
    ) -> Option<Table<'d>> {
        let item = self.get(table, key, false)?;
        self.table_item(table, key, item, path)
    }

    fn table_item<'d>(
        &mut self,
        table: Table<'d>,
        key: &str,
        item: &'d Item,
        path: &'d str,
    ) -> Option<Table<'d>> {
        match item.as_table_like() {
            Some(inner) => Some(Table {
                inner,
                span: item
                    .span()
                    .or_else(|| table.inner.get_key_value(key).and_then(|(k, _)| k.span()))
                    .map(|r| (r.start, r.end)),
                path,
            }),
            None => {
                self.wrong_type(table, key, "a table", item);
                None
            }
        }
    }

    /// A required, non-empty list of tables (`[[key]]` or an inline array of `{ … }`).
    ///
    /// Returns each entry with its index; paths are built by the caller with [`entry_path`].
    pub(crate) fn tables<'d>(&mut self, table: Table<'d>, key: &str) -> Vec<TableRef<'d>> {
        let Some(item) = self.get(table, key, true) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Some(aot) = item.as_array_of_tables() {
            for t in aot.iter() {
                out.push(TableRef {
                    inner: t,
                    span: t.span().map(|r| (r.start, r.end)),
                });
            }
        } else if let Some(arr) = item.as_array() {
            for v in arr.iter() {
                match v.as_inline_table() {
                    Some(t) => out.push(TableRef {
                        inner: t,
                        span: v.span().map(|r| (r.start, r.end)),
                    }),
                    None => {
                        let line = self.line_of_span(v.span());
                        self.push(
                            line,
                            &join(table.path, key),
                            format!("expected a list of tables, found a list with {}", {
                                v.type_name()
                            }),
                        );
                        return Vec::new();
                    }
                }
            }
        } else {
            self.wrong_type(table, key, "a list of tables", item);
            return Vec::new();
        }
        if out.is_empty() {
            let line = self.line_of_key(table, key);
            self.push(line, &join(table.path, key), "must list at least one entry");
        }
        out
    }

    /// Entries of a table whose keys are names (e.g. `troops = { infantry = 300 }`).
    pub(crate) fn entries<'d>(&self, table: Table<'d>) -> Vec<(&'d str, &'d Item)> {
        table.inner.iter().collect()
    }
}

/// Ids defined so far in a list of tables, with the line of each first definition.
#[derive(Default)]
pub(crate) struct UniqueIds(std::collections::BTreeMap<String, usize>);

impl UniqueIds {
    /// Records `id` (the value of `key` in `table`); a repeat is reported as a duplicate naming
    /// the first definition's line, and `false` is returned.
    pub(crate) fn check(
        &mut self,
        r: &mut FileReader<'_>,
        table: Table<'_>,
        key: &str,
        id: &str,
    ) -> bool {
        let line = r.line_of_key(table, key);
        if let Some(first) = self.0.get(id) {
            let message = format!("duplicate id \"{id}\" (first defined on line {first})");
            r.push(line, &join(table.path, key), message);
            return false;
        }
        self.0.insert(id.to_owned(), line);
        true
    }
}

/// An entry of a list of tables, before it gets its path.
#[derive(Clone, Copy)]
pub(crate) struct TableRef<'d> {
    inner: &'d dyn TableLike,
    span: Option<(usize, usize)>,
}

impl<'d> TableRef<'d> {
    /// Names the entry with a path owned by the caller.
    pub(crate) fn with_path(self, path: &'d str) -> Table<'d> {
        Table {
            inner: self.inner,
            span: self.span,
            path,
        }
    }
}

/// `parent.key[index]`
pub(crate) fn entry_path(parent: &str, key: &str, index: usize) -> String {
    format!("{}[{index}]", join(parent, key))
}

/// `parent.key`, or `key` at the root.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

fn describe(item: &Item) -> String {
    match item {
        Item::Value(v) => match v {
            toml_edit::Value::String(s) => format!("a string \"{}\"", s.value()),
            toml_edit::Value::Integer(i) => format!("an integer {}", i.value()),
            toml_edit::Value::Float(f) => format!("a number {}", f.value()),
            toml_edit::Value::Boolean(b) => format!("a boolean {}", b.value()),
            toml_edit::Value::Datetime(_) => "a date".to_owned(),
            toml_edit::Value::Array(_) => "a list".to_owned(),
            toml_edit::Value::InlineTable(_) => "a table".to_owned(),
        },
        Item::Table(_) => "a table".to_owned(),
        Item::ArrayOfTables(_) => "a list of tables".to_owned(),
        Item::None => "nothing".to_owned(),
    }
}

/// The allowed key closest to `key` by edit distance, if it is plausibly a typo.
fn closest<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (edit_distance(key, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 3))
        .min()
        .map(|(_, a)| a)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_typos() {
        assert_eq!(edit_distance("atack", "attack"), 1);
        assert_eq!(edit_distance("speed", "speed"), 0);
        assert_eq!(closest("defense", &["attack", "defence"]), Some("defence"));
        assert_eq!(closest("colour", &["attack", "defence"]), None);
    }

    #[test]
    fn lines_are_one_based() {
        let r = FileReader::new("f.toml", "a = 1\nb = 2\n");
        assert_eq!(r.line_of(0), 1);
        assert_eq!(r.line_of(6), 2);
        assert_eq!(r.line_of(7), 2);
    }
}
