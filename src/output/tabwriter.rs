//! Column alignment exactly as Go's `text/tabwriter` does it for kubectl (`get` tables: minwidth 6, padding 3;
//! `describe`: minwidth 0, padding 2; both pad with spaces, align left).
//!
//! Input is text whose cells end with `\t` and whose lines end with `\n`. A column is aligned over a *block*:
//! the consecutive lines that have a tab-terminated cell in that column; the text after a line's last tab is
//! never padded. This block rule is what makes `describe` sections line up the way they do (e.g. `PodCIDR:`
//! aligning with the `System Info` entries above it). Pure string → string.

/// Layout parameters of a Go tabwriter with `' '` as pad character and no flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TabWriter {
    pub min_width: usize,
    pub padding: usize,
}

/// `kubectl get` tables (`printers.GetNewTabWriter`).
pub const TABLE: TabWriter = TabWriter {
    min_width: 6,
    padding: 3,
};

/// `kubectl describe` (`tabbedString`).
pub const DESCRIBE: TabWriter = TabWriter {
    min_width: 0,
    padding: 2,
};

impl TabWriter {
    /// Aligns `text`. A final line without `\n` is kept as is (also aligned).
    pub fn format(&self, text: &str) -> String {
        let mut lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
        // `split` yields one empty trailing line after the final '\n'; it carries no cells.
        let trailing_newline = text.ends_with('\n');
        if trailing_newline {
            lines.pop();
        }
        let mut out = String::with_capacity(text.len() * 2);
        let mut widths = Vec::new();
        self.format_block(&lines, 0, lines.len(), &mut widths, &mut out);
        if !trailing_newline && out.ends_with('\n') {
            out.pop();
        }
        out
    }

    fn format_block(
        &self,
        lines: &[Vec<&str>],
        mut line0: usize,
        line1: usize,
        widths: &mut Vec<usize>,
        out: &mut String,
    ) {
        let column = widths.len();
        let mut this = line0;
        while this < line1 {
            if column >= lines[this].len() - 1 {
                this += 1;
                continue;
            }
            // A cell exists in this column: lines before it are complete at this depth.
            write_lines(lines, line0, this, widths, out);
            line0 = this;
            let mut width = self.min_width;
            while this < line1 && column < lines[this].len() - 1 {
                width = width.max(cell_width(lines[this][column]) + self.padding);
                this += 1;
            }
            widths.push(width);
            self.format_block(lines, line0, this, widths, out);
            widths.pop();
            line0 = this;
        }
        write_lines(lines, line0, line1, widths, out);
    }
}

fn cell_width(cell: &str) -> usize {
    cell.chars().count()
}

fn write_lines(lines: &[Vec<&str>], from: usize, to: usize, widths: &[usize], out: &mut String) {
    for line in &lines[from..to] {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j < widths.len() && j + 1 < line.len() {
                let pad = widths[j].saturating_sub(cell_width(cell));
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_layout_matches_kubectl() {
        // Seed walkthrough, `kubectl get replicaset`.
        let got = TABLE
            .format("NAME\tDESIRED\tCURRENT\tREADY\tAGE\nk8s-nginx-6d779d947c\t3\t3\t3\t41s\n");
        assert_eq!(
            got,
            "NAME                   DESIRED   CURRENT   READY   AGE\n\
             k8s-nginx-6d779d947c   3         3         3       41s\n"
        );
    }

    #[test]
    fn min_width_applies_to_narrow_columns() {
        let got = TABLE.format("A\tB\n1\t2\n");
        assert_eq!(got, "A     B\n1     2\n");
    }

    #[test]
    fn blocks_break_on_lines_without_tabs() {
        let got = DESCRIBE.format("Name:\tx\nLonger key:\ty\nSection:\n  k:\tv\n");
        assert_eq!(got, "Name:        x\nLonger key:  y\nSection:\n  k:  v\n");
    }

    #[test]
    fn empty_cells_still_take_padding() {
        // describe's node pod table has an empty column between Name and CPU Requests.
        let got = DESCRIBE.format("a\tb\t\tc\n");
        assert_eq!(got, "a  b    c\n");
    }
}
