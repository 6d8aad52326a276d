"""Cluster access: the one client factory and typed resource helpers over JSON dicts."""
