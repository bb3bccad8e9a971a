"""Example submissions for the demo and the tests."""
