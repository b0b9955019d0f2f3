"""Tests of intelligence products."""
