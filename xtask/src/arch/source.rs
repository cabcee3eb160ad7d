//! Reading Rust source without a parser: comments and literals blanked, `#[cfg(test)]` items
//! left out, and each function's extent found by its braces.

/// The text with comments, string, byte-string and char literals blanked to spaces (newlines
/// kept), so that lines, braces and paths can be read from what remains.
pub(super) fn blank(src: &str) -> String {
    let mut blanker = Blanker {
        b: src.chars().collect(),
        out: String::with_capacity(src.len()),
        i: 0,
    };
    while blanker.i < blanker.b.len() {
        blanker.step();
    }
    blanker.out
}

/// One pass of [`blank`] over a file's characters: code copied, comments and literals blanked.
struct Blanker {
    /// The file's characters.
    b: Vec<char>,
    /// What has been copied or blanked so far.
    out: String,
    /// The next character to read.
    i: usize,
}

/// What a blanked character becomes: a space, or the newline itself (so lines are kept).
fn keep(c: char) -> char {
    if c == '\n' {
        '\n'
    } else {
        ' '
    }
}

impl Blanker {
    /// Copies or blanks the comment, literal or character at the cursor and moves past it.
    fn step(&mut self) {
        let c = self.b[self.i];
        let next = self.b.get(self.i + 1).copied();
        if c == '/' && next == Some('/') {
            self.line_comment();
        } else if c == '/' && next == Some('*') {
            self.block_comment();
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !ident_before(&self.b, self.i)
        {
            self.raw_string();
        } else if c == '"' {
            self.string();
        } else if c == '\'' {
            self.char_or_lifetime();
        } else {
            self.copy();
        }
    }

    /// Copies the character at the cursor.
    fn copy(&mut self) {
        self.out.push(self.b[self.i]);
        self.i += 1;
    }

    /// A `//` comment, up to (not including) its newline.
    fn line_comment(&mut self) {
        while self.i < self.b.len() && self.b[self.i] != '\n' {
            self.out.push(' ');
            self.i += 1;
        }
    }

    /// A `/* .. */` comment, nested ones included.
    fn block_comment(&mut self) {
        let b = &self.b;
        let mut depth = 0;
        while self.i < b.len() {
            let i = self.i;
            if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                depth += 1;
                self.out.push_str("  ");
                self.i += 2;
            } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                depth -= 1;
                self.out.push_str("  ");
                self.i += 2;
                if depth == 0 {
                    break;
                }
            } else {
                self.out.push(keep(b[i]));
                self.i += 1;
            }
        }
    }

    /// A raw string r#"..."# (or br"...", whose b was pushed already); an `r` that opens none is
    /// copied.
    fn raw_string(&mut self) {
        let b = &self.b;
        let start = self.i;
        let mut j = start + 1;
        let mut hashes = 0;
        while b.get(j) == Some(&'#') {
            hashes += 1;
            j += 1;
        }
        if b.get(j) != Some(&'"') {
            self.copy();
            return;
        }
        self.out.push('"');
        for _ in start + 1..=j {
            self.out.push(' ');
        }
        let mut i = j + 1;
        while i < b.len() {
            if b[i] == '"' && (0..hashes).all(|h| b.get(i + 1 + h) == Some(&'#')) {
                self.out.push('"');
                for _ in 0..hashes {
                    self.out.push(' ');
                }
                i += 1 + hashes;
                break;
            }
            self.out.push(keep(b[i]));
            i += 1;
        }
        self.i = i;
        self.out.pop();
        self.out.push('"');
    }

    /// A `"..."` string, its escapes included.
    fn string(&mut self) {
        let b = &self.b;
        let mut i = self.i;
        self.out.push('"');
        i += 1;
        while i < b.len() && b[i] != '"' {
            if b[i] == '\\' {
                self.out.push(' ');
                i += 1;
            }
            if i < b.len() {
                self.out.push(keep(b[i]));
                i += 1;
            }
        }
        self.out.push('"');
        self.i = i + 1;
    }

    /// A char literal ('x', '\n', '\u{..}'), blanked; or a lifetime ('a), copied.
    fn char_or_lifetime(&mut self) {
        let (b, i) = (&self.b, self.i);
        let end = if b.get(i + 1) == Some(&'\\') {
            (i + 2..b.len()).find(|&j| b[j] == '\'')
        } else if b.get(i + 2) == Some(&'\'') {
            Some(i + 2)
        } else {
            None
        };
        match end {
            Some(e) => {
                self.out.push('\'');
                for _ in i + 1..e {
                    self.out.push(' ');
                }
                self.out.push('\'');
                self.i = e + 1;
            }
            None => self.copy(),
        }
    }
}

/// Whether the character before `b[i]` ends an identifier (so an `r` there is no raw string's);
/// a lone `b` (of `br"..."`) does not count.
fn ident_before(b: &[char], i: usize) -> bool {
    i > 0
        && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
        && (b[i - 1] != 'b' || ident_before(b, i - 1))
}

/// The index of the brace that closes the one at `open`.
fn matching(b: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    for (j, &c) in b.iter().enumerate().skip(open) {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return j;
                }
            }
            _ => {}
        }
    }
    b.len().saturating_sub(1)
}

/// The blanked text with every `#[cfg(test)]` item blanked too, and how many lines those had.
pub(super) fn strip_tests(clean: &str) -> (String, usize) {
    let mut b = clean.as_bytes().to_vec();
    let mut lines = 0;
    let mut from = 0;
    while let Some(at) = find(&b, b"#[cfg(test)]", from) {
        let Some(open) = b[at..]
            .iter()
            .position(|&c| c == b'{' || c == b';')
            .map(|p| p + at)
        else {
            break;
        };
        let end = if b[open] == b'{' {
            matching(&b, open)
        } else {
            open
        };
        lines += b[at..=end].iter().filter(|&&c| c == b'\n').count() + 1;
        for c in &mut b[at..=end] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
        from = end;
    }
    (String::from_utf8_lossy(&b).into_owned(), lines)
}

/// Where `needle` first occurs in `hay` at or after `from`.
pub(super) fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The 1-based line of the byte at `at`.
fn line_of(b: &[u8], at: usize) -> usize {
    b[..at].iter().filter(|&&c| c == b'\n').count() + 1
}

/// Each function with a body: its name, first line and length in lines.
pub(super) fn functions(body: &str) -> Vec<(String, usize, usize)> {
    let b = body.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = find(b, b"fn ", from) {
        from = at + 3;
        if at > 0 && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_') {
            continue;
        }
        let name: String = body[at + 3..]
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let name = if name.is_empty() && body[at + 3..].trim_start().starts_with('$') {
            "$macro".to_string() // `fn $name` in a macro_rules! body
        } else if name.is_empty() {
            continue; // `fn(` in a type
        } else {
            name
        };
        // The body's brace is the first `{` outside brackets (`[f32; 4]` holds a `;`).
        let mut depth = 0i32;
        let Some(stop) = b[at..]
            .iter()
            .position(|&c| {
                match c {
                    b'(' | b'[' => depth += 1,
                    b')' | b']' => depth -= 1,
                    _ => {}
                }
                depth == 0 && (c == b'{' || c == b';')
            })
            .map(|p| p + at)
        else {
            break;
        };
        if b[stop] == b';' {
            continue;
        }
        let end = matching(b, stop);
        let (first, last) = (line_of(b, at), line_of(b, end));
        out.push((name, first, last - first + 1));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanking_hides_braces_in_literals_and_comments_and_keeps_lines() {
        let src = "fn a() {\n let s = \"}{\"; // }\n let c = '{'; let r = r#\"}\"#; /* { */\n}\nfn b<'a>(x: &'a str) {}\n";
        let clean = blank(src);
        assert_eq!(clean.lines().count(), src.lines().count());
        assert_eq!(clean.matches('{').count(), clean.matches('}').count());
        let fns = functions(&clean);
        assert_eq!(fns, vec![("a".to_string(), 1, 4), ("b".to_string(), 5, 1)]);
    }

    #[test]
    fn array_types_in_signatures_and_macro_functions_are_measured() {
        let src =
            "fn a(x: [f32; 4]) -> [f64; 3] {\n\n}\nmacro_rules! m { () => { fn $n() {\n} } }\n";
        let fns = functions(&blank(src));
        assert_eq!(
            fns,
            vec![("a".to_string(), 1, 3), ("$macro".to_string(), 4, 2)]
        );
    }
}
