"""Reference solutions of the course's assignments, one package per assignment."""
