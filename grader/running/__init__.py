"""grader.running: running a class: the stage order, the batch's shared state, shards and their executors."""
