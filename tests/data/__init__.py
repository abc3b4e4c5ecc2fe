"""Tests of autoablation.data."""
