"""Measuring: finite differences, verdicts with kinks excluded, bisection, detectors, the search.

The engine reads declarations (:mod:`gradcheck.declare`) and produces measurements
and findings; it never builds reports (that is :mod:`gradcheck.report`).
"""
