"""The test suite; a package so that every test package can import ``tests.support``."""
