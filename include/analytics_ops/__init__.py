"""analytics-ops: the library behind the suite's DAGs.

DAG files only wire tasks; the work lives here so tests can call it without a scheduler. Nothing in
this package opens a connection or imports a database driver at import time.
"""
