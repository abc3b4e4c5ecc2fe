"""Tests of autoablation.executor."""
