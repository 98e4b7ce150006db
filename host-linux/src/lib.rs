//! host-linux
