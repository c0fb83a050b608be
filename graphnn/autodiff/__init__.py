"""Reverse-mode differentiation: gradient rules applied as graph nodes, and rewrites of known chains."""
