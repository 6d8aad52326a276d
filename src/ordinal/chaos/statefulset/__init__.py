"""Chaos Toolkit activities whose target is a StatefulSet: ``actions`` inject, ``probes`` judge."""
