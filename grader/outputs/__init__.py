"""grader.outputs: what is rendered for people: report, deck, plots, gradebook, class summary, CI outputs."""
