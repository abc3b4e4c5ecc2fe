"""Tests of autoablation.driver."""
