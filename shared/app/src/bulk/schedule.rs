//! ISSUE 14 GROUNDWORK: filled in by its helper.
