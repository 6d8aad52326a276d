"""Chaos Toolkit activities whose target is a Node: drain, loss, out-of-service, and their undo."""
