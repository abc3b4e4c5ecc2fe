"""Tests of autoablation.model."""
