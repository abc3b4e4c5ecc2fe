"""Tests of autoablation.results."""
