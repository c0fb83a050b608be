"""Seeing inside a graph: statistics, health checks, summaries and diagrams. Reads graphs, changes nothing."""
