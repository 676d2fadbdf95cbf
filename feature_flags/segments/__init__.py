"""Segments: audiences defined once, as conditions, and named in the rules of any number of flags."""
