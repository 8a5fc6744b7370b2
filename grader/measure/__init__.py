"""grader.measure: measuring and grading: metrics, scores, the rubric's checks, sweeps."""
