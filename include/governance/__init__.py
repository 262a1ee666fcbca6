"""Retention governance: apply a privacy policy's retention schedule to personal-data exports."""

__version__ = "0.1.0"
