"""Tests of autoablation.e2e."""
