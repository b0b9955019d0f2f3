"""Intake: every way intelligence comes in, validated and labelled."""
