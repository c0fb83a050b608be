"""The book's toolbox on graphs: layers, losses, metrics, optimizers, the Model and its files."""
