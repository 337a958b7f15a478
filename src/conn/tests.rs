//! Per-state tests of the connection state machine.
