"""Tests of autoablation.core."""
