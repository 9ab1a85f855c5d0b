"""Jobs: one step per call, the only place where settings become job arguments.

``sync`` (one watchlist from the API into the store), ``digests`` (queue what is
due), ``delivery`` (send the outbox), and ``runner.Jobs``, which the command line
and the scheduler both call with the settings and an engine.
"""
