//! The `sim7600 decode` line parser (`modem_core::line::LineClassifier`) on arbitrary
//! capture bytes, and `Urc::try_parse` on every line of them.
//!
//! Checks beyond "never panics": the items do not depend on how the capture is split into
//! reads (the first byte of the input picks the read size), and every item can be printed
//! (the host prints them).
#![no_main]

use libfuzzer_sys::fuzz_target;
use modem_core::line::{LineClassifier, LineItem};
use modem_core::urc::Urc;

fn classify(bytes: &[u8], read: usize) -> Vec<LineItem> {
    let mut classifier = LineClassifier::new();
    let mut items = Vec::new();
    for chunk in bytes.chunks(read.max(1)) {
        items.extend(classifier.feed(chunk));
    }
    items.extend(classifier.finish());
    items
}

fuzz_target!(|data: &[u8]| {
    let Some((&read, capture)) = data.split_first() else {
        return;
    };
    let whole = classify(capture, capture.len());
    let chunked = classify(capture, usize::from(read));
    assert_eq!(whole, chunked, "items depend on the read size {read}");

    for line in capture.split(|&b| b == b'\n') {
        std::hint::black_box(Urc::try_parse(line).ok());
    }
    for item in &whole {
        std::hint::black_box(format!("{item:?}"));
        if let LineItem::Unknown { reason, .. } = item {
            std::hint::black_box(reason.to_string());
        }
    }
});
