"""Tests of autoablation.meta."""
