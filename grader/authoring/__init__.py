"""Authoring: student stubs generated from the reference solutions."""
