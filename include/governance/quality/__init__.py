"""Data quality: the expectation suites (Great Expectations) in front of every deletion."""
