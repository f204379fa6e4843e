"""The domain of the Yiyang Hub: elders, the facts known about them, and where each fact came from.

This package imports nothing from the edges (adapters, mappings, event_store): only the standard
library and eventsourcing.
"""
