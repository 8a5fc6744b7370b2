"""Dev tools, not part of the installed grader: benchmarks, the example builders, measurements."""
