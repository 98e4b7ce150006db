//! The TwiML a voice webhook (`[agent] voice_url`) answers with, read into verbs
//! (sans-I/O): `<Connect><Stream url>` with its `<Parameter>`s, `<Say>`, `<Play>`,
//! `<Pause length>`, `<Hangup>`, `<Redirect>` (fetch the next document from a URL). Any other verb is kept as [`Verb::Refused`] so that the
//! caller logs it by name. A small tag reader, not a general XML parser: TwiML is flat.

/// One instruction of the TwiML document, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    /// Stream the call to `url` with these extra `customParameters`.
    Stream {
        /// `ws://` or `wss://`.
        url: String,
        /// `<Parameter name value>`s.
        parameters: Vec<(String, String)>,
    },
    /// Speak the text.
    Say(String),
    /// Play the WAV at this URL.
    Play(String),
    /// Wait this many seconds.
    Pause(u32),
    /// Hang up.
    Hangup,
    /// Ask this URL for the next TwiML document (the call's fields POSTed, as to a voice
    /// URL) and carry that out instead of what follows.
    Redirect(String),
    /// A verb this bot does not carry out.
    Refused(String),
}

/// Why a document is not TwiML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwimlError {
    /// No `<Response>`.
    #[error("not TwiML: no <Response> element")]
    NoResponse,
    /// `<Stream>` without `url`.
    #[error("<Stream> has no url")]
    StreamUrl,
}

#[derive(Debug)]
enum Token {
    Open {
        name: String,
        attrs: Vec<(String, String)>,
        empty: bool,
    },
    Close(String),
    Text(String),
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn tokens(doc: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut rest = doc;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            out.push(Token::Text(unescape(rest)));
            break;
        };
        if lt > 0 {
            out.push(Token::Text(unescape(&rest[..lt])));
        }
        let Some(gt) = rest[lt..].find('>') else {
            break;
        };
        let tag = &rest[lt + 1..lt + gt];
        rest = &rest[lt + gt + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            out.push(Token::Close(name.trim().to_owned()));
            continue;
        }
        let empty = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
        let name = tag[..name_end].to_owned();
        let mut attrs = Vec::new();
        let mut a = &tag[name_end..];
        while let Some(eq) = a.find('=') {
            let key = a[..eq].trim().to_owned();
            let after = a[eq + 1..].trim_start();
            let Some(quote) = after.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                break;
            };
            let Some(close) = after[1..].find(quote) else {
                break;
            };
            attrs.push((key, unescape(&after[1..1 + close])));
            a = &after[close + 2..];
        }
        out.push(Token::Open { name, attrs, empty });
    }
    out
}

fn attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The verbs of `doc`, in order.
pub fn parse(doc: &str) -> Result<Vec<Verb>, TwimlError> {
    let tokens = tokens(doc);
    let start = tokens
        .iter()
        .position(|t| matches!(t, Token::Open { name, .. } if name == "Response"))
        .ok_or(TwimlError::NoResponse)?;
    let mut verbs = Vec::new();
    let mut i = start + 1;
    // The text inside the verb that starts at `i` (up to its closing tag).
    let text_of = |i: usize, name: &str| {
        let mut text = String::new();
        for t in tokens.iter().skip(i + 1) {
            match t {
                Token::Text(s) => text.push_str(s),
                Token::Close(n) if n == name => break,
                _ => {}
            }
        }
        text.trim().to_owned()
    };
    while let Some(t) = tokens.get(i) {
        match t {
            Token::Open { name, attrs, empty } => match name.as_str() {
                "Connect" => {}
                "Stream" => {
                    let url = attr(attrs, "url").ok_or(TwimlError::StreamUrl)?.to_owned();
                    let mut parameters = Vec::new();
                    if !empty {
                        for t in tokens.iter().skip(i + 1) {
                            match t {
                                Token::Open { name, attrs, .. } if name == "Parameter" => {
                                    if let (Some(k), Some(v)) =
                                        (attr(attrs, "name"), attr(attrs, "value"))
                                    {
                                        parameters.push((k.to_owned(), v.to_owned()));
                                    }
                                }
                                Token::Close(n) if n == "Stream" => break,
                                _ => {}
                            }
                        }
                    }
                    verbs.push(Verb::Stream { url, parameters });
                }
                "Parameter" => {}
                "Say" => verbs.push(Verb::Say(if *empty {
                    String::new()
                } else {
                    text_of(i, "Say")
                })),
                "Play" => verbs.push(Verb::Play(if *empty {
                    String::new()
                } else {
                    text_of(i, "Play")
                })),
                "Pause" => verbs.push(Verb::Pause(
                    attr(attrs, "length")
                        .and_then(|l| l.parse().ok())
                        .unwrap_or(1),
                )),
                "Hangup" => verbs.push(Verb::Hangup),
                "Redirect" if !*empty => verbs.push(Verb::Redirect(text_of(i, "Redirect"))),
                other => {
                    verbs.push(Verb::Refused(other.to_owned()));
                    // Skip what the refused verb encloses.
                    if !empty {
                        let other = other.to_owned();
                        while let Some(t) = tokens.get(i + 1) {
                            i += 1;
                            if matches!(t, Token::Close(n) if *n == other) {
                                break;
                            }
                        }
                    }
                }
            },
            Token::Close(name) if name == "Response" => break,
            _ => {}
        }
        i += 1;
    }
    Ok(verbs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilios_examples_read_as_verbs_and_others_are_refused_by_name() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Say voice="alice">Hello &amp; welcome</Say>
  <Pause length="2"/>
  <Play>http://127.0.0.1:8000/hello.wav</Play>
  <Gather input="dtmf"><Say>Press a key</Say></Gather>
  <Connect>
    <Stream url="wss://agent.example/media">
      <Parameter name="FirstName" value="Jane"/>
      <Parameter name="Plan" value="pro"/>
    </Stream>
  </Connect>
  <Hangup/>
</Response>"#;
        assert_eq!(
            parse(doc).unwrap(),
            vec![
                Verb::Say("Hello & welcome".into()),
                Verb::Pause(2),
                Verb::Play("http://127.0.0.1:8000/hello.wav".into()),
                Verb::Refused("Gather".into()),
                Verb::Stream {
                    url: "wss://agent.example/media".into(),
                    parameters: vec![
                        ("FirstName".into(), "Jane".into()),
                        ("Plan".into(), "pro".into())
                    ],
                },
                Verb::Hangup,
            ]
        );
        assert_eq!(parse("<html/>"), Err(TwimlError::NoResponse));
        assert_eq!(
            parse("<Response><Connect><Stream/></Connect></Response>"),
            Err(TwimlError::StreamUrl)
        );
        assert_eq!(
            parse("<Response><Stream url='ws://a/'/></Response>")
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn a_redirect_names_the_next_document() {
        let verbs = parse(
            "<Response><Say>one moment</Say><Redirect>http://127.0.0.1:9/next</Redirect></Response>",
        )
        .unwrap();
        assert_eq!(
            verbs,
            vec![
                Verb::Say("one moment".into()),
                Verb::Redirect("http://127.0.0.1:9/next".into())
            ]
        );
    }
}
