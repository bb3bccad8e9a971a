"""Reference solution of the data assignment: preparing a dataset (a seeded three-way
split, normalization with the training split's statistics, a proxy dataset) and
evaluating a trained model."""
