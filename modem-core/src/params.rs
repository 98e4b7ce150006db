//! The comma-separated parameter lists of AT information lines.
//!
//! This module owns the one tokenizer that the URC parser, the command responses and the
//! line classifier share, so that quoting rules (`"a,b"` is one field) are decided once.
//! It borrows from the line and never allocates.

/// One field of a parameter list such as `"+491761234567",145,,,,0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field<'a> {
    /// The text without surrounding quotes or spaces.
    pub(crate) text: &'a str,
    /// Whether the field was written in double quotes.
    pub(crate) quoted: bool,
}

impl<'a> Field<'a> {
    /// The field as a number, or `None` when empty or not a decimal number that fits.
    pub(crate) fn number<T: core::str::FromStr>(&self) -> Option<T> {
        if self.text.is_empty() || !self.text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        self.text.parse().ok()
    }

    /// The field's text, `None` when the field is empty.
    pub(crate) fn non_empty(&self) -> Option<&'a str> {
        if self.text.is_empty() {
            None
        } else {
            Some(self.text)
        }
    }
}

/// An iterator over the fields of a parameter list.
///
/// A quote that is never closed takes the rest of the line as its text: the SIM7600 does
/// not send such lines, and being lenient here lets the caller decide what is wrong.
#[derive(Debug, Clone)]
pub(crate) struct Fields<'a> {
    rest: Option<&'a str>,
}

impl<'a> Fields<'a> {
    /// Fields of `params`, the text after `+XXXX:`.
    pub(crate) fn new(params: &'a str) -> Self {
        Self { rest: Some(params) }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        let rest = self.rest.take()?.trim_start_matches(' ');
        if let Some(after_quote) = rest.strip_prefix('"') {
            let (text, after) = match after_quote.find('"') {
                Some(end) => (
                    after_quote.get(..end).unwrap_or(""),
                    after_quote.get(end + 1..).unwrap_or(""),
                ),
                None => (after_quote, ""),
            };
            // Whatever stands between the closing quote and the next comma is dropped.
            self.rest = after.find(',').and_then(|comma| after.get(comma + 1..));
            return Some(Field { text, quoted: true });
        }
        match rest.find(',') {
            Some(comma) => {
                self.rest = rest.get(comma + 1..);
                Some(Field {
                    text: rest.get(..comma).unwrap_or("").trim(),
                    quoted: false,
                })
            }
            None => Some(Field {
                text: rest.trim(),
                quoted: false,
            }),
        }
    }
}

/// Splits `+NAME: params` into `params` when the line starts with `prefix` (e.g. `"+CLIP"`).
///
/// Accepts an ASCII or a full-width colon (the manual prints `+CMS ERROR ：340` once) with
/// optional spaces on either side.
pub(crate) fn after_prefix<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(prefix)?.trim_start_matches(' ');
    let rest = rest
        .strip_prefix(':')
        .or_else(|| rest.strip_prefix('\u{ff1a}'))?;
    Some(rest.trim_start_matches(' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> heapless::Vec<&str, 16> {
        Fields::new(s).map(|f| f.text).collect()
    }

    #[test]
    fn clip_fields_with_empty_and_quoted_parts() {
        assert_eq!(
            texts(r#""+491761234567",145,,,,0"#).as_slice(),
            ["+491761234567", "145", "", "", "", "0"]
        );
    }

    #[test]
    fn a_comma_inside_quotes_is_text() {
        assert_eq!(texts(r#""a,b",1"#).as_slice(), ["a,b", "1"]);
    }

    #[test]
    fn unterminated_quote_takes_the_rest() {
        assert_eq!(texts(r#"1,"abc"#).as_slice(), ["1", "abc"]);
    }

    #[test]
    fn full_width_colon_is_accepted() {
        assert_eq!(after_prefix("+CMS ERROR ：340", "+CMS ERROR"), Some("340"));
        assert_eq!(after_prefix("+CMS ERROR: 340", "+CMS ERROR"), Some("340"));
        assert_eq!(after_prefix("+CMS ERRORS: 340", "+CMS ERROR"), None);
    }
}
