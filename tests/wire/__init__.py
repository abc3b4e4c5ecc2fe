"""Tests of autoablation.wire."""
