//! The record's bounds, filters and traffic series.
