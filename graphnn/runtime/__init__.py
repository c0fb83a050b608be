"""Running graphs: plans specialised to a feed, compiled to straight-line Python, and run hooks."""
