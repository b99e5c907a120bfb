//! A results table: written as CSV for tools and as Markdown for the README.

use std::path::Path;

/// One cell: text or a number shown with a fixed number of decimals (so the CSV is
/// byte-for-byte stable across runs and platforms).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Free text.
    Text(String),
    /// A number and its decimals.
    Num(f64, usize),
}

impl Cell {
    /// The cell as written.
    pub fn render(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Num(v, d) if v.is_finite() => format!("{v:.d$}", d = *d),
            Cell::Num(..) => "inf".to_string(),
        }
    }
    /// The numeric value, if any.
    pub fn value(&self) -> Option<f64> {
        match self {
            Cell::Num(v, _) => Some(*v),
            Cell::Text(_) => None,
        }
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_string())
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(s)
    }
}

/// Columns and rows.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new(columns: &[&str]) -> Self {
        Table {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    pub fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.columns.len());
        self.rows.push(row);
    }

    /// Index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Writes the table as CSV.
    pub fn write_csv(&self, path: &Path) -> Result<(), String> {
        let err = |e: csv::Error| format!("{}: {e}", path.display());
        let mut w = csv::Writer::from_path(path).map_err(err)?;
        w.write_record(&self.columns).map_err(err)?;
        for row in &self.rows {
            w.write_record(row.iter().map(Cell::render)).map_err(err)?;
        }
        w.flush().map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The table in Markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = format!("| {} |\n", self.columns.join(" | "));
        out += &format!("|{}\n", "---|".repeat(self.columns.len()));
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(Cell::render).collect();
            out += &format!("| {} |\n", cells.join(" | "));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_fixed_decimals_and_markdown() {
        let mut t = Table::new(&["cc", "ratio"]);
        t.push(vec!["lia".into(), Cell::Num(1.0 / 3.0, 3)]);
        t.push(vec!["inf".into(), Cell::Num(f64::INFINITY, 1)]);
        assert_eq!(
            t.to_markdown(),
            "| cc | ratio |\n|---|---|\n| lia | 0.333 |\n| inf | inf |\n"
        );
        let dir = std::env::temp_dir().join(format!("mptcp-exp-table-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("t.csv");
        t.write_csv(&f).unwrap();
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "cc,ratio\nlia,0.333\ninf,inf\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
