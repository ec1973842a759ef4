//! Test and example host for the ws-controller workspace; it has no API of its own.
