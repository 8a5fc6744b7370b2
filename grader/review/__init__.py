"""What the instructor sees and corrects after grading: the class dashboard (reports/index.html, static), and
`grader review REPORTS/`, the same pages served on 127.0.0.1 with corrections saved beside the reports.

cells: the per-cell Part A corrections file; corrections: overrides.csv and the reviewed marks; pages: the
dashboard's and the group pages' data and HTML; regrade: grade + render of one group from its stored records;
server: the local web app.
"""
