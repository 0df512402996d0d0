//! Reading JSONL input: one JSON object per line, every problem reported
//! with the file and the line it is on.

use serde::de::DeserializeOwned;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Longest text accepted, in bytes. The encoder reads at most 256 tokens, so
/// a megabyte is far beyond any useful situation and most likely a mistake.
pub const MAX_TEXT_BYTES: usize = 1 << 20;

/// A problem with an input file, naming the file and line.
#[derive(Debug, Error)]
pub enum InputError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The input file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A line was not valid UTF-8.
    #[error("{path}:{line}: not valid UTF-8")]
    Utf8 {
        /// The input file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// A line was not the JSON object expected.
    #[error("{path}:{line}: {source}")]
    Json {
        /// The input file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What serde found wrong.
        #[source]
        source: serde_json::Error,
    },
    /// A line parsed but its content is unusable.
    #[error("{path}:{line}: {reason}")]
    Invalid {
        /// The input file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong, in words.
        reason: String,
    },
}

/// One parsed line and where it came from.
#[derive(Debug, Clone)]
pub struct Row<T> {
    /// 1-based line number in the file.
    pub line: usize,
    /// The parsed value.
    pub value: T,
}

/// Reads every non-blank line of a JSONL file as a `T`; `-` reads stdin.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<Row<T>>, InputError> {
    let mut rows = Vec::new();
    for_each_chunk(path, usize::MAX, |chunk| {
        rows.extend(chunk);
        Ok::<(), InputError>(())
    })?;
    Ok(rows)
}

/// Streams a JSONL file (`-` for stdin) in chunks of at most `chunk` parsed
/// rows, handing each to `each` in file order; memory holds one chunk. The
/// first bad line stops the stream with its error.
pub fn for_each_chunk<T, E>(
    path: &Path,
    chunk: usize,
    mut each: impl FnMut(Vec<Row<T>>) -> Result<(), E>,
) -> Result<(), E>
where
    T: DeserializeOwned,
    E: From<InputError>,
{
    let io = |source| InputError::Io { path: path.to_owned(), source };
    let reader: Box<dyn BufRead> = if path == Path::new("-") {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        Box::new(BufReader::new(std::fs::File::open(path).map_err(io)?))
    };
    let mut rows = Vec::new();
    for (i, bytes) in reader.split(b'\n').enumerate() {
        if let Some(row) = parse_line(path, i + 1, &bytes.map_err(io)?)? {
            rows.push(row);
        }
        if rows.len() >= chunk.max(1) {
            each(std::mem::take(&mut rows))?;
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    each(rows)
}

/// Parses one line; `None` for a blank line.
fn parse_line<T: DeserializeOwned>(
    path: &Path,
    line: usize,
    bytes: &[u8],
) -> Result<Option<Row<T>>, InputError> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| InputError::Utf8 { path: path.to_owned(), line })?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    let json = |source| InputError::Json { path: path.to_owned(), line, source };
    let object: serde_json::Value = serde_json::from_str(text).map_err(json)?;
    if !object.is_object() {
        let reason = "expected a JSON object".to_owned();
        return Err(InputError::Invalid { path: path.to_owned(), line, reason });
    }
    Ok(Some(Row { line, value: serde_json::from_value(object).map_err(json)? }))
}

/// Checks a situation's text: not empty, not only whitespace, not huge.
pub fn check_text(path: &Path, line: usize, text: &str) -> Result<(), InputError> {
    let reason = if text.trim().is_empty() {
        "text is empty or only whitespace".to_owned()
    } else if text.len() > MAX_TEXT_BYTES {
        format!("text is {} bytes, more than the limit of {MAX_TEXT_BYTES}", text.len())
    } else {
        return Ok(());
    };
    Err(InputError::Invalid { path: path.to_owned(), line, reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[derive(serde::Deserialize, Debug)]
    #[expect(dead_code, reason = "only parsed")]
    struct T {
        text: String,
    }

    fn file(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    #[test]
    fn names_the_line_of_each_problem() {
        let f = file(b"{\"text\": \"a\"}\n\n[1, 2]\n");
        let e = read_jsonl::<T>(f.path()).unwrap_err().to_string();
        assert!(e.ends_with(":3: expected a JSON object"), "{e}");
        let f = file(b"{\"text\": 1}\n");
        let e = read_jsonl::<T>(f.path()).unwrap_err().to_string();
        assert!(e.ends_with(":1: invalid type: integer `1`, expected a string"), "{e}");
        let f = file(b"{\"text\": \"a\"}\n{\"txt\": 1}\n");
        let e = read_jsonl::<T>(f.path()).unwrap_err().to_string();
        assert!(e.contains(":2: missing field `text`"), "{e}");
        let f = file(b"{\"text\": \"\xff\"}\n");
        assert!(matches!(read_jsonl::<T>(f.path()), Err(InputError::Utf8 { line: 1, .. })));
    }

    #[test]
    fn chunks_arrive_in_order_and_stop_at_the_first_bad_line() {
        let f = file(b"{\"text\": \"a\"}\n{\"text\": \"b\"}\n\n{\"text\": \"c\"}\n[1]\n");
        let mut seen = Vec::new();
        let result = for_each_chunk::<T, InputError>(f.path(), 2, |rows| {
            seen.push(rows.iter().map(|r| r.line).collect::<Vec<_>>());
            Ok(())
        });
        assert!(matches!(result, Err(InputError::Invalid { line: 5, .. })), "{result:?}");
        assert_eq!(seen, vec![vec![1, 2]]);
    }

    #[test]
    fn blank_lines_are_skipped_and_numbered() {
        let f = file(b"\n{\"text\": \"a\"}\n");
        let rows = read_jsonl::<T>(f.path()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].line, 2);
    }

    #[test]
    fn text_checks() {
        let p = Path::new("x.jsonl");
        assert!(check_text(p, 1, " \t\n").is_err());
        assert!(check_text(p, 1, "").is_err());
        assert!(check_text(p, 1, &"a".repeat(MAX_TEXT_BYTES + 1)).is_err());
        assert!(check_text(p, 1, "hello").is_ok());
    }
}
