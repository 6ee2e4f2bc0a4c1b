"""Folds of a run on a Dask cluster (`medview train --on ADDRESS`): where the run goes
(``address``), the task a worker runs for one fold (``fold_task``) and the client side that
submits the folds and puts their results into the run as a local run would (``driver``).

Dask distributed does the scheduling, retries and resources; medview writes no scheduler.
"""
