"""Observation: watch streams and the timeline they feed."""
