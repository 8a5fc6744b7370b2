"""grader.reading: reading a group's work: untrusted files, bounded readers, never executed or imported."""
