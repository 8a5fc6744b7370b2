"""`python -m grader`: the same entry point as the `grader` console script."""

from grader.cli import main

main()
