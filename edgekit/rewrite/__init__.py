"""Rewrites that turn a dynamic lightweight CNN into an equivalent export-friendly one.

One pass a file; `pipeline.rewrite_for_export` runs them in order on a copy of the model and logs
what each changed; `verify.check_equivalent` is the proof every pass (and every export) relies on.
"""
