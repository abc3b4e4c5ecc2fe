"""Tests of autoablation.study."""
