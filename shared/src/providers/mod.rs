//! Real providers behind the delivery traits. Each takes plain values and speaks its provider's wire format.

pub mod firetext;
