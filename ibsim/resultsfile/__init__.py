"""The results file format: its schema, the one reader and the one writer, and
the provenance each file records.

This package sits below the pipeline (which writes files) and the plots (which
read them); :mod:`ibsim.results` builds the user's API on top of it.
"""
