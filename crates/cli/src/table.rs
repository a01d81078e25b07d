//! Plain text tables for human output.

pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    right: Vec<usize>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table { header: header.iter().map(|s| s.to_string()).collect(), rows: Vec::new(), right: Vec::new() }
    }

    /// Columns to right-align (numbers).
    pub fn right_align(&mut self, cols: &[usize]) {
        self.right = cols.to_vec();
    }

    pub fn row(&mut self, r: Vec<String>) {
        self.rows.push(r);
    }

    pub fn print(&self) {
        let n = self.header.len();
        let mut w = vec![0usize; n];
        for r in std::iter::once(&self.header).chain(&self.rows) {
            for (i, c) in r.iter().enumerate().take(n) {
                w[i] = w[i].max(c.chars().count());
            }
        }
        for r in std::iter::once(&self.header).chain(&self.rows) {
            let cells: Vec<String> = r
                .iter()
                .enumerate()
                .take(n)
                .map(
                    |(i, c)| {
                        if self.right.contains(&i) {
                            format!("{c:>width$}", width = w[i])
                        } else {
                            format!("{c:<width$}", width = w[i])
                        }
                    },
                )
                .collect();
            outln!("{}", cells.join("  ").trim_end());
        }
    }
}
