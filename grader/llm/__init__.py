"""grader.llm: the model work: the base model, a group's adapter, training and answers."""
