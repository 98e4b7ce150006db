//! hil-tests
