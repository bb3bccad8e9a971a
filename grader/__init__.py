"""Auto-grader for the neural-networks course: autodiff and gradient-descent assignments."""

__version__ = "0.1.0"
