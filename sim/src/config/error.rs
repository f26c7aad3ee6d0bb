//! Asset errors: every problem names the file, the line and the field, so a designer can fix it
//! without reading code.

use std::fmt;

/// One problem found in an asset file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetError {
    /// File name relative to the assets folder, e.g. `units.toml`.
    pub file: String,
    /// 1-based line of the offending value (or of its table when the value is missing).
    pub line: usize,
    /// Dotted path of the field, e.g. `unit[2].attack`; `(syntax)` for a file that does not parse.
    pub field: String,
    /// What is wrong, in designer words.
    pub message: String,
}

impl fmt::Display for AssetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.field, self.message
        )
    }
}

/// Every problem found while loading an assets folder; never empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetErrors(pub Vec<AssetError>);

impl fmt::Display for AssetErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for AssetErrors {}
