"""The graph and its primitives: nodes, the building context, the primitive table.

Modules here import nothing from the rest of graphnn; everything else builds on them.
"""
