//! clamd over its socket (INSTREAM).
